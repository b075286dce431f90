"""The one place that builds real adapters from the settings and wires them into the use cases.

Built lazily, once per process (Cloud Functions reuse an instance across invocations), so each client and the SSH
connection are reused.
"""

from __future__ import annotations

import functools
import tempfile
from datetime import timedelta
from pathlib import Path

from google.cloud import firestore

from shared.adapters.firestore_dead_letters import FirestoreDeadLetters
from shared.adapters.firestore_jobs import FirestoreJobs, FirestoreLease
from shared.adapters.firestore_quota import FirestoreQuotas
from shared.adapters.firestore_replay_guard import FirestoreReplayGuard
from shared.adapters.firestore_repos import FirestoreRepos
from shared.adapters.gcs_results import GcsResultsStore
from shared.adapters.gcs_store import GcsObjectStore, storage_client
from shared.adapters.identity import IdTokenIdentity
from shared.adapters.optuna_search import OptunaSampler
from shared.adapters.pareto_plot import MatplotlibParetoPlotter
from shared.adapters.pubsub_publisher import PubSubPublisher
from shared.adapters.smtp_mailer import DisabledMailer, SmtpMailer
from shared.adapters.ssh_slurm import SshSlurmCluster
from shared.config import Settings, settings
from shared.domain.archive import ArchiveLimits
from shared.domain.design import Resources
from shared.domain.flows.base import FlowRunner
from shared.domain.job_script import ClusterTarget
from shared.domain.quota import QuotaLimits
from shared.ports import Cluster, Mailer, ObjectStore, SecretSource
from shared.services.cancel import CancelDeps
from shared.services.completion.run_end import CompletionDeps
from shared.services.dead_letters import DeadLetterDeps
from shared.services.dispatch import DispatchDeps
from shared.services.fetch_design import FetchDeps
from shared.services.git_submit import GitSubmitDeps
from shared.services.ingest import IngestDeps, IngestPolicy
from shared.services.jobs_topic import JobsTopicDeps
from shared.services.notify import Notifier
from shared.services.repos import RepoDeps
from shared.services.scripts import ScriptFactory

INFRA_SLURM = Path(__file__).resolve().parent.parent / "infra" / "slurm"


@functools.cache
def firestore_client() -> firestore.Client:
    return firestore.Client(project=settings().project_id)


@functools.cache
def jobs() -> FirestoreJobs:
    return FirestoreJobs(firestore_client())


@functools.cache
def object_store() -> ObjectStore:
    config = settings()
    store = GcsObjectStore(storage_client(config.project_id))
    if config.faults_file and config.environment == "local":
        from shared.adapters.fault_injection import FailingStore

        return FailingStore(store, Path(config.faults_file))
    return store


@functools.cache
def results_store() -> GcsResultsStore:
    config = settings()
    # No key secret: sign through IAM as the function's own service account (no private key anywhere).
    signing_key = (lambda: secrets().get(config.url_signing_key_secret)) if config.url_signing_key_secret else None
    return GcsResultsStore(storage_client(config.project_id), config.storage_public_url, signing_key)


@functools.cache
def publisher() -> PubSubPublisher:
    return PubSubPublisher(settings().project_id)


@functools.cache
def secrets() -> SecretSource:
    config = settings()
    if config.secrets_backend == "directory":
        from shared.adapters.secrets import DirectorySecrets

        return DirectorySecrets(Path(config.secrets_dir))
    from shared.adapters.secrets import SecretManagerSecrets

    return SecretManagerSecrets(config.project_id)


@functools.cache
def mailer() -> Mailer:
    config = settings()
    if not config.smtp_host:
        return DisabledMailer()
    password = secrets().get(config.smtp_password_secret) if config.smtp_password_secret else ""
    return SmtpMailer(
        config.smtp_host,
        config.smtp_port,
        config.mail_from,
        user=config.smtp_user,
        password=password,
        starttls=config.smtp_starttls,
    )


@functools.cache
def notifier() -> Notifier:
    config = settings()
    return Notifier(jobs(), mailer(), config.results_bucket, config.status_base_url, object_store())


def login_host(config: Settings) -> str:
    if config.slurm_login_host:
        return config.slurm_login_host
    from shared.adapters.compute_login import ComputeLoginNodeFinder

    return ComputeLoginNodeFinder(
        config.project_id, config.login_node_zone, config.login_node_pattern
    ).find_login_host()


@functools.cache
def cluster() -> Cluster:
    config = settings()
    ssh = SshSlurmCluster(
        host=functools.cache(lambda: login_host(config)),
        port=config.slurm_login_port,
        user=config.slurm_login_user,
        private_key=lambda: secrets().get(config.ssh_key_secret),
        work_root=config.slurm_work_root,
        host_key=config.slurm_host_key,
        command_timeout_s=config.slurm_command_timeout_s,
    )
    if config.faults_file and config.environment == "local":
        from shared.adapters.fault_injection import CrashingCluster

        return CrashingCluster(ssh, Path(config.faults_file))
    return ssh


@functools.cache
def runners() -> dict[str, FlowRunner]:
    from shared.domain.flows.registry import ContainerImages, flow_runners

    config = settings()
    return flow_runners(
        ContainerImages(
            openlane_image=config.openlane_image,
            openlane_pdk_root=config.openlane_pdk_root,
            librelane_image=config.librelane_image,
            librelane_pdk_root=config.librelane_pdk_root,
            container_binary=config.container_binary,
            librelane_runtime=config.librelane_runtime,
            librelane_python=config.librelane_python,
        ),
        render_script=(INFRA_SLURM / "render_layout.py").read_text(),
    )


def default_resources(config: Settings) -> Resources:
    return Resources(config.default_cpus, config.default_memory_mb, config.default_time_limit_minutes)


def hook_master_key() -> str:
    return secrets().get(settings().hook_key_secret)


def ingest_deps() -> IngestDeps:
    config = settings()
    policy = ingest_policy(config)
    return IngestDeps(
        jobs(),
        object_store(),
        publisher(),
        notifier(),
        policy,
        quotas(),
        quota_limits(config),
        results_store(),
        OptunaSampler(),
    )


def ingest_policy(config: Settings) -> IngestPolicy:
    return IngestPolicy(
        designs_bucket=config.designs_bucket,
        jobs_topic=config.jobs_topic,
        flow=config.flow_runner,
        offered_flows=config.offered_flows,
        max_time_limit_minutes=config.max_time_limit_minutes,
        resources=default_resources(config),
        max_upload_bytes=config.max_upload_bytes,
        limits=ArchiveLimits(
            max_entries=config.max_archive_entries,
            max_total_bytes=config.max_unpacked_bytes,
            max_file_bytes=config.max_file_bytes,
            max_ratio=config.max_compression_ratio,
        ),
        max_cpus_per_job=config.max_cpus_per_job,
        max_memory_mb_per_job=config.max_memory_mb_per_job,
        max_sweep_runs=config.max_sweep_runs,
        flow_versions={flow: config.flow_version(flow) for flow in config.offered_flows},
        reuse_scope=config.result_reuse,
        results_bucket=config.results_bucket,
    )


@functools.cache
def script_factory() -> ScriptFactory:
    config = settings()
    target = ClusterTarget(
        partition=config.slurm_partition,
        results_bucket=config.results_bucket,
        storage_endpoint=config.job_storage_endpoint,
        storage_auth="none" if config.environment == "local" else "metadata",
        hook_url=config.completion_url,
        hook_auth=config.hook_auth,
        heartbeat_s=config.job_heartbeat_s,
    )
    return ScriptFactory(
        template=(INFRA_SLURM / "job.sh.tmpl").read_text(),
        kit_source=(INFRA_SLURM / "olc_job.py").read_text(),
        target=target,
        runners=runners(),
        hook_master_key=hook_master_key,
    )


@functools.cache
def identity() -> IdTokenIdentity:
    config = settings()
    return IdTokenIdentity(config.id_token_audiences, config.id_token_issuers, config.id_token_certs_url)


@functools.cache
def quotas() -> FirestoreQuotas:
    return FirestoreQuotas(firestore_client(), settings().admins)


def quota_limits(config: Settings) -> QuotaLimits:
    """The configured defaults; operators may override them in Firestore (quotas/_defaults)."""
    return QuotaLimits(
        global_concurrency=config.job_concurrency,
        user_concurrency=config.user_concurrency,
        user_max_queued=config.user_max_queued,
        user_monthly_core_hours=config.user_monthly_core_hours,
        budget_action="reject" if config.budget_action == "reject" else "wait",
    )


def dispatch_deps() -> DispatchDeps:
    config = settings()
    return DispatchDeps(
        jobs=jobs(),
        lease=FirestoreLease(firestore_client(), "dispatcher"),
        cluster=cluster(),
        scripts=script_factory(),
        quotas=quotas(),
        notifier=notifier(),
        limits=quota_limits(config),
        lease_ttl_s=config.dispatch_lease_s,
        submit_give_up=timedelta(seconds=config.submit_give_up_s),
    )


@functools.cache
def dead_letters() -> FirestoreDeadLetters:
    return FirestoreDeadLetters(firestore_client())


def cancel_deps() -> CancelDeps:
    return CancelDeps(
        jobs=jobs(), publisher=publisher(), jobs_topic=settings().jobs_topic, quotas=quotas(), notifier=notifier()
    )


def completion_deps() -> CompletionDeps:
    config = settings()
    return CompletionDeps(
        jobs=jobs(),
        cluster=cluster(),
        store=object_store(),
        publisher=publisher(),
        notifier=notifier(),
        runners=runners(),
        hook_master_key=hook_master_key,
        quotas=quotas(),
        plotter=MatplotlibParetoPlotter(),
        results_bucket=config.results_bucket,
        jobs_topic=config.jobs_topic,
        wait_for_slurm_s=config.completion_wait_s,
        sampler=OptunaSampler(),
        scripts=script_factory(),
    )


def jobs_topic_deps() -> JobsTopicDeps:
    return JobsTopicDeps(
        dispatch=dispatch_deps(),
        completion=completion_deps(),
        dead_letters=DeadLetterDeps(dead_letters(), jobs(), notifier()),
        reconcile_after_s=settings().reconcile_after_s,
    )


def git_submit_deps() -> GitSubmitDeps:
    config = settings()
    return GitSubmitDeps(
        jobs(), publisher(), config.designs_bucket, config.git_fetch_topic, config.git_allowed_http_hosts
    )


def fetch_deps() -> FetchDeps:
    from shared.adapters.git_fetch import GitCliFetcher

    config = settings()
    fetcher = GitCliFetcher(
        work_dir=Path(config.git_work_dir or tempfile.gettempdir()) / "olc-git",
        max_bytes=config.git_max_bytes,
        timeout_s=config.git_timeout_s,
        allowed_hosts=config.git_allowed_http_hosts,
    )
    return FetchDeps(object_store(), fetcher, config.designs_bucket, config.git_allowed_http_hosts)


@functools.cache
def replay_guard() -> FirestoreReplayGuard:
    return FirestoreReplayGuard(firestore_client())


@functools.cache
def repos() -> FirestoreRepos:
    return FirestoreRepos(firestore_client())


def repo_deps() -> RepoDeps:
    return RepoDeps(repos(), replay_guard(), git_submit_deps())

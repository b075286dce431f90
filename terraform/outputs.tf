output "api_url" {
  description = "Base URL of the users' API (STATUS_BASE_URL; the audience of the ID tokens it accepts)."
  value       = module.functions.urls.api
}

output "completion_url" {
  description = "URL of the completion hook the cluster calls (COMPLETION_URL)."
  value       = module.functions.urls.completion
}

output "functions" {
  description = "Function names, by entry point."
  value       = module.functions.names
}

output "designs_bucket" {
  description = "Upload design archives here as <your e-mail>/<design>.tar.gz."
  value       = module.buckets.designs_bucket
}

output "results_bucket" {
  description = "Runs write results here as <e-mail>/<job id>/."
  value       = module.buckets.results_bucket
}

output "images_bucket" {
  description = "Singularity/Apptainer images (singularity/containerbuilder.yaml writes, infra/place_image.sh reads)."
  value       = module.buckets.images_bucket
}

output "function_source" {
  description = "Bucket and object of the deployed function source zip."
  value = {
    bucket = module.buckets.function_source_bucket
    object = module.functions.source_object
  }
}

output "build_repository" {
  description = "Artifact Registry repository of the Apptainer builder image (_REPOSITORY of the singularity builds)."
  value       = google_artifact_registry_repository.build.repository_id
}

output "pubsub" {
  description = "Jobs topic (JOBS_TOPIC), git-fetch topic (GIT_FETCH_TOPIC), their push subscriptions and the dead letters."
  value = {
    jobs_topic               = module.pubsub.jobs_topic_name
    jobs_subscription        = module.pubsub.jobs_subscription
    tick_subscription        = module.pubsub.tick_subscription
    git_fetch_topic          = module.pubsub.git_fetch_topic_name
    git_fetch_subscription   = module.pubsub.git_fetch_subscription
    dead_letter_topic        = module.pubsub.jobs_dead_letter_topic_name
    dead_letter_subscription = module.pubsub.jobs_dead_letter_subscription
  }
}

output "dispatcher_tick" {
  description = "Cloud Scheduler job of the tick (`gcloud scheduler jobs pause` it during cluster maintenance)."
  value       = module.scheduler.job_name
}

output "firestore" {
  description = "Firestore database of the jobs and its composite indexes."
  value = {
    database = module.firestore.database
    indexes  = module.firestore.indexes
  }
}

output "secrets" {
  description = "Secret ids; add the SSH key (and SMTP password) versions yourself (docs/deploy.md)."
  value       = module.secrets.ids
}

output "login_node" {
  description = "How the functions find the login node (SLURM_LOGIN_HOST, or LOGIN_NODE_ZONE + LOGIN_NODE_PATTERN)."
  value       = module.slurm_cluster.login_node
}

output "cluster_files" {
  description = "For an existing cluster: the epilog, /etc/olc/epilog.env and the node setup scripts to install (docs/deploy.md)."
  value = {
    epilog_script        = module.slurm_cluster.epilog_script
    epilog_env           = module.slurm_cluster.epilog_env
    compute_setup_script = module.slurm_cluster.compute_setup_script
    login_setup_script   = module.slurm_cluster.login_setup_script
  }
}

output "monitoring" {
  description = "Dashboard id, alert policies and log-based metric types."
  value = {
    dashboard      = module.monitoring.dashboard_id
    alert_policies = module.monitoring.alert_policies
    metric_types   = module.monitoring.metric_types
  }
}

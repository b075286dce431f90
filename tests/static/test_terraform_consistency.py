"""The deployment files against the code, offline: terraform/ (parsed with python-hcl2), cloudbuild.yaml and the
Singularity build files, checked against functions/main.py, shared/config.py, the Firestore queries and the log lines.

What is checked (issue 7): every entry point has a function and the trigger its decorator expects; every environment
variable a function gets is a Settings variable and every required one is set; secret names point at secret
resources the function may read; topics, buckets and indexes the code uses exist and nothing declared is unused;
log-based metrics count lines (and fields) the code writes; the READMEs' tables match the variables and outputs;
the YAML files parse, declare every substitution they use and run only scripts that exist; checkov passes.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from shared.config import FLOW_RUNNERS, Settings
from shared.domain.events import STORAGE_FINALIZED

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
CHECKOV_PIN = "checkov==3.3.30"  # keep in step with the Makefile's lint target and cloudbuild.yaml

SETTINGS_ENV = {f.metadata["env"]: f for f in fields(Settings)}
REQUIRED_ENV = {env for env, f in SETTINGS_ENV.items() if f.default is MISSING and f.default_factory is MISSING}
SECRET_ENV = {env for env in SETTINGS_ENV if env.endswith("_SECRET")}

# Terraform references inside an expression: var.x, local.x.y, module.m.o, and resource/data attributes.
REF = re.compile(
    r"\b(?:(?P<kind>var|local|module)\.(?P<path>[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)"
    r"|(?P<data>data\.)?(?P<rtype>(?:google|random)_\w+)\.(?P<rname>[A-Za-z_][\w-]*)(?:\[[^\]]*\])?(?:\.(?P<attr>\w+))?)"
)


# ------------------------------------------------------------------------------------------ reading Terraform
def unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals and labels: "\"x\"" -> "x"."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return json.loads(value)
        except ValueError:
            return value[1:-1]
    return value


def clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {unquote(k): clean(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def expression(value: Any) -> str:
    """An attribute as text: literals unquoted, `${...}` kept, nested values as JSON (refs stay findable)."""
    value = unquote(value)
    return value if isinstance(value, str) else json.dumps(value)


def type_text(value: Any) -> str:
    text = str(value)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The first nested block called `name` (hcl2 gives blocks as lists)."""
    value = body.get(name)
    if isinstance(value, list):
        return value[0] if value else {}
    return value or {}


@dataclass
class Module:
    path: Path
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    data: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    ephemeral: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    text: str = ""

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        return self.resources[rtype][name]

    def all_resources(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for rtype, by_name in self.resources.items():
            for name, body in by_name.items():
                yield rtype, name, body


def load_module(path: Path) -> Module:
    module = Module(path)
    for tf in sorted(path.glob("*.tf")):
        module.text += tf.read_text() + "\n"
        parsed = clean(hcl2.load(tf.open()))
        for item in parsed.get("variable", []):
            module.variables.update(item)
        for item in parsed.get("locals", []):
            module.locals.update(item)
        for item in parsed.get("output", []):
            module.outputs.update(item)
        for kind, target in (("resource", module.resources), ("data", module.data), ("ephemeral", module.ephemeral)):
            for item in parsed.get(kind, []):
                for rtype, by_name in item.items():
                    target.setdefault(rtype, {}).update(by_name)
        for item in parsed.get("module", []):
            module.modules.update(item)
    return module


@dataclass(frozen=True)
class Terminal:
    """Where a reference chain ends: a resource attribute, or a root variable."""

    module: str  # "" for the root
    kind: str  # "resource", "data", "ephemeral" or "var"
    rtype: str
    name: str
    attr: str = ""


class Tree:
    """The root module and the local modules it calls, with reference tracing across module boundaries."""

    def __init__(self, root: Path) -> None:
        self.root = load_module(root)
        self.children: dict[str, Module] = {}
        self.calls: dict[str, dict[str, Any]] = {}
        for name, body in self.root.modules.items():
            source = str(unquote(body["source"]))
            if source.startswith("./"):
                self.children[name] = load_module(root / source)
                self.calls[name] = body

    def module(self, name: str) -> Module:
        return self.root if name == "" else self.children[name]

    def local_value(self, module: Module, path: str) -> Any:
        value: Any = module.locals
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value

    def trace(self, module_name: str, value: Any, seen: frozenset[str] = frozenset()) -> set[Terminal]:
        """Every resource attribute (or root variable) the expression's value can come from."""
        text = expression(value)
        found: set[Terminal] = set()
        for match in REF.finditer(text):
            key = f"{module_name}:{match.group(0)}"
            if key in seen:
                continue
            now = seen | {key}
            if match.group("rtype"):
                kind = "data" if match.group("data") else "resource"
                if match.group("rtype") == "random_password" and not match.group("data"):
                    kind = "ephemeral" if "ephemeral." + match.group(0) in text else kind
                attr = match.group("attr") or ""
                found.add(Terminal(module_name, kind, match.group("rtype"), match.group("rname"), attr))
                continue
            kind, path = match.group("kind"), match.group("path")
            module = self.module(module_name)
            if kind == "var":
                name = path.split(".")[0]
                if module_name == "":
                    found.add(Terminal("", "var", "var", name))
                elif name in self.calls[module_name]:
                    found |= self.trace("", self.calls[module_name][name], now)
                else:
                    default = module.variables.get(name, {}).get("default")
                    found.add(Terminal(module_name, "var", "default", name, str(default)))
            elif kind == "local":
                parts = path.split(".")
                for cut in range(len(parts), 0, -1):
                    local = self.local_value(module, ".".join(parts[:cut]))
                    if local is not None:
                        found |= self.trace(module_name, local, now)
                        break
            elif kind == "module":
                parts = path.split(".")
                child, output = parts[0], parts[1] if len(parts) > 1 else ""
                if child in self.children and output in self.children[child].outputs:
                    found |= self.trace(child, self.children[child].outputs[output]["value"], now)
        return found

    def root_default(self, name: str) -> Any:
        return unquote(self.root.variables[name].get("default"))

    def evaluate(self, module_name: str, value: Any) -> str:
        """A string literal with `${var.x}` interpolations, evaluated with the root variables' defaults."""
        text = expression(value)

        def substitute(match: re.Match[str]) -> str:
            inner = match.group(1).strip()
            ref = re.fullmatch(r"var\.(\w+)", inner)
            if not ref:
                raise AssertionError(f"cannot evaluate ${{{inner}}} statically")
            name = ref.group(1)
            if module_name == "":
                return str(self.root_default(name))
            return self.evaluate("", self.calls[module_name][name])

        return re.sub(r"\$\{([^{}]+)\}", substitute, text)


@functools.cache
def tree() -> Tree:
    return Tree(TERRAFORM)


# ------------------------------------------------------------------------------------------- reading the code
def entry_points() -> list[str]:
    source = ast.parse((REPO / "functions" / "main.py").read_text())
    for node in source.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            return [ast.literal_eval(e) for e in node.value.elts]  # type: ignore[attr-defined]
    raise AssertionError("functions/main.py has no __all__")


def decorator_kinds() -> dict[str, str]:
    """entry point -> "http" or "cloud_event", from the functions_framework decorator in functions/*.py."""
    kinds = {}
    for path in (REPO / "functions").glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef):
                for deco in node.decorator_list:
                    if isinstance(deco, ast.Attribute) and getattr(deco.value, "id", "") == "functions_framework":
                        kinds[node.name] = deco.attr
    return kinds


def bootstrap_reach() -> dict[str, set[str]]:
    """entry point -> the shared/bootstrap.py factories its code path reaches (references, transitively)."""
    tree_ = ast.parse((REPO / "shared" / "bootstrap.py").read_text())
    defs = {node.name: node for node in tree_.body if isinstance(node, ast.FunctionDef)}
    uses = {
        name: {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in defs and n.id != name}
        for name, node in defs.items()
    }
    reach = {}
    for path in (REPO / "functions").glob("*.py"):
        source = ast.parse(path.read_text())
        entries = [
            n.name
            for n in source.body
            if isinstance(n, ast.FunctionDef)
            and any(getattr(getattr(d, "value", None), "id", "") == "functions_framework" for d in n.decorator_list)
        ]
        # An entry point's code path includes the shared/web modules it imports (the API's handlers).
        modules = [source]
        imported = {n.module for n in ast.walk(source) if isinstance(n, ast.ImportFrom) and n.module}
        visited: set[str] = set()
        while imported:
            module = imported.pop()
            if module.startswith("shared.web") and module not in visited:
                visited.add(module)
                parsed = ast.parse((REPO / (module.replace(".", "/") + ".py")).read_text())
                modules.append(parsed)
                for n in ast.walk(parsed):
                    if isinstance(n, ast.ImportFrom) and n.module == "shared.web":
                        imported |= {f"shared.web.{alias.name}" for alias in n.names}
                    elif isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("shared.web."):
                        imported.add(n.module)
        todo = {
            n.attr
            for tree_ in modules
            for n in ast.walk(tree_)
            if isinstance(n, ast.Attribute) and getattr(n.value, "id", "") == "bootstrap" and n.attr in defs
        }
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo |= uses[name]
        for entry in entries:
            reach[entry] = seen
    return reach


@dataclass(frozen=True)
class LogCall:
    path: str
    message: str
    fields: frozenset[str]


def log_calls() -> list[LogCall]:
    """Every `log.<level>("message", extra=fields(a=..., b=...))` in shared/ and functions/."""
    calls = []
    for folder in ("shared", "functions"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("debug", "info", "warning", "error", "exception", "critical")
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    continue
                names: set[str] = set()
                for keyword in node.keywords:
                    if keyword.arg == "extra" and isinstance(keyword.value, ast.Call):
                        names |= {k.arg for k in keyword.value.keywords if k.arg}
                calls.append(LogCall(str(path.relative_to(REPO)), node.args[0].value, frozenset(names)))
    return calls


@dataclass(frozen=True)
class IndexNeed:
    equalities: tuple[str, ...]
    order: tuple[tuple[str, str], ...]


def firestore_queries() -> list[IndexNeed]:
    """Queries of shared/adapters/*.py that order results: each needs a composite index unless it orders by its
    only equality field (single-field indexes cover the rest, including `in` filters and counts)."""
    needs = []
    for path in (REPO / "shared" / "adapters").glob("firestore*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "order_by"):
                continue
            if isinstance(getattr(node, "_parent_chain", None), bool):
                continue
            equalities: list[str] = []
            order: list[tuple[str, str]] = []
            current: ast.AST = node
            while isinstance(current, ast.Call) and isinstance(current.func, ast.Attribute):
                attr = current.func.attr
                if attr == "order_by":
                    direction = "ASCENDING"
                    for keyword in current.keywords:
                        if keyword.arg == "direction" and "DESCENDING" in ast.unparse(keyword.value):
                            direction = "DESCENDING"
                    order.insert(0, (ast.literal_eval(current.args[0]), direction))
                    # an inner order_by is part of this chain, not a query of its own
                    current.func.value._parent_chain = True  # type: ignore[attr-defined]
                elif attr == "where":
                    for keyword in current.keywords:
                        if keyword.arg == "filter" and isinstance(keyword.value, ast.Call):
                            field_name, op = (ast.literal_eval(a) for a in keyword.value.args[:2])
                            if op in ("==", "in"):  # Firestore indexes an `in` filter like an equality
                                equalities.insert(0, field_name)
                current = current.func.value
            needs.append(IndexNeed(tuple(equalities), tuple(order)))
    return needs


# ------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def tf() -> Tree:
    return tree()


@pytest.fixture(scope="module")
def functions_module(tf: Tree) -> Module:
    return tf.module("functions")


def function_resources(module: Module) -> dict[str, dict[str, Any]]:
    return module.resources.get("google_cloudfunctions2_function", {})


def function_env(module: Module, body: dict[str, Any]) -> dict[str, Any]:
    """The environment_variables of a function: `merge(local.a, local.b)` of object literals in locals."""
    expr = expression(block(body, "service_config")["environment_variables"])
    match = re.fullmatch(r"\$\{merge\(\s*((?:local\.\w+\s*,?\s*)+)\)\}", expr)
    assert match, f"environment_variables must be merge(local.x, ...) of literal maps, got {expr}"
    env: dict[str, Any] = {}
    for name in re.findall(r"local\.(\w+)", match.group(1)):
        value = module.locals[name]
        assert isinstance(value, dict), f"local.{name} must be an object literal"
        env.update(value)
    return env


# ---------------------------------------------------------------------------------------- functions and env
def test_every_entry_point_has_one_function_with_that_entry_point(functions_module: Module) -> None:
    deployed = {
        label: unquote(block(body, "build_config")["entry_point"])
        for label, body in function_resources(functions_module).items()
    }
    assert sorted(deployed.values()) == sorted(entry_points())
    assert all(label == entry for label, entry in deployed.items()), deployed


def test_trigger_types_match_the_decorators(tf: Tree, functions_module: Module) -> None:
    kinds = decorator_kinds()
    resources = function_resources(functions_module)
    assert set(kinds) >= set(entry_points())

    ingest = block(resources["ingest"], "event_trigger")
    assert kinds["ingest"] == "cloud_event"
    assert unquote(ingest["event_type"]) == STORAGE_FINALIZED
    assert unquote(ingest["retry_policy"]) == "RETRY_POLICY_RETRY"
    [bucket_filter] = [f for f in ingest["event_filters"] if unquote(f["attribute"]) == "bucket"]
    assert tf.trace("functions", bucket_filter["value"]) == {
        Terminal("buckets", "resource", "google_storage_bucket", "designs", "name")
    }

    # The dispatcher is woken by push subscriptions on the jobs topic and the tick topic, and records what the
    # jobs topic's dead-letter topic pushes to it (modules/pubsub).
    assert kinds["dispatcher"] == "cloud_event"
    assert "event_trigger" not in resources["dispatcher"]
    pushed = dispatcher_push_topics(tf)
    assert pushed == {"jobs", "tick", "jobs_dead_letter"}, pushed

    for name in ("completion", "api"):
        assert kinds[name] == "http", name
        assert "event_trigger" not in resources[name], name


def dispatcher_push_topics(tf: Tree) -> set[str]:
    pubsub = tf.module("pubsub")
    topics = set()
    for body in pubsub.resources.get("google_pubsub_subscription", {}).values():
        push = block(body, "push_config")
        if not push:
            continue
        # Functions Framework reads the topic from the path of a raw push: /projects/P/topics/T.
        endpoint = expression(push["push_endpoint"])
        assert re.fullmatch(
            r"\$\{var\.dispatcher_url\}/projects/\$\{var\.project_id\}/topics/\$\{google_pubsub_topic\.\w+\.name\}",
            endpoint,
        ), endpoint
        assert {t.name for t in tf.trace("pubsub", endpoint) if t.rtype == "google_pubsub_topic"} == {
            t.name for t in tf.trace("pubsub", body["topic"])
        }, "a subscription must push to the path of its own topic"
        audience = tf.trace("pubsub", block(push, "oidc_token")["audience"])
        dispatcher_url = tf.trace("", tf.calls["pubsub"]["dispatcher_url"])
        assert audience == dispatcher_url
        assert "dispatcher" in expression(tf.calls["pubsub"]["dispatcher_url"])
        for terminal in tf.trace("pubsub", body["topic"]):
            topics.add(terminal.name)
    return topics


def test_every_function_env_var_is_a_setting_and_required_ones_are_set(functions_module: Module) -> None:
    for name, body in function_resources(functions_module).items():
        env = function_env(functions_module, body)
        unknown = set(env) - set(SETTINGS_ENV)
        assert not unknown, f"{name} sets variables shared/config.py does not read: {sorted(unknown)}"
        missing = REQUIRED_ENV - set(env)
        assert not missing, f"{name} lacks required settings {sorted(missing)}"
        # Settings._check: production needs a way to find the login node and a real hook authentication.
        assert {"SLURM_LOGIN_HOST", "LOGIN_NODE_ZONE"} <= set(env)
        assert unquote(env["OLC_ENV"]) == "production"
        assert unquote(env["HOOK_AUTH"]) == "google-id-token"


def test_env_vars_point_at_the_declared_resources(tf: Tree, functions_module: Module) -> None:
    expected = {
        "DESIGNS_BUCKET": Terminal("buckets", "resource", "google_storage_bucket", "designs", "name"),
        "RESULTS_BUCKET": Terminal("buckets", "resource", "google_storage_bucket", "results", "name"),
        "JOBS_TOPIC": Terminal("pubsub", "resource", "google_pubsub_topic", "jobs", "name"),
        # the project id, taken from the enabled APIs so that every module waits for them (main.tf)
        "GOOGLE_CLOUD_PROJECT": Terminal("", "resource", "google_project_service", "apis", ""),
    }
    apis = tf.root.resource("google_project_service", "apis")
    assert expression(apis["project"]) == "${var.project_id}"
    for name, body in function_resources(functions_module).items():
        env = function_env(functions_module, body)
        for key, terminal in expected.items():
            traced = tf.trace("functions", env[key])
            assert terminal in traced, f"{name}: {key} comes from {traced}, not {terminal}"
        # the URLs are the deterministic run.app URLs of the completion and api functions
        assert "local.urls.completion" in expression(env["COMPLETION_URL"])
        assert "local.urls.api" in expression(env["STATUS_BASE_URL"])
    urls = expression(functions_module.locals["urls"])
    assert "https://" in urls and ".run.app" in urls


def test_jobs_topic_name_is_the_code_default(tf: Tree) -> None:
    topic = tf.module("pubsub").resource("google_pubsub_topic", "jobs")
    name = tf.evaluate("pubsub", topic["name"])
    assert name == SETTINGS_ENV["JOBS_TOPIC"].default, f"jobs topic {name!r} is not the code's default"


def test_secret_env_vars_name_secrets_their_function_may_read(tf: Tree, functions_module: Module) -> None:
    readers_arg = {
        "SSH_KEY_SECRET": "ssh_key_readers",
        "HOOK_KEY_SECRET": "hook_key_readers",
        "SMTP_PASSWORD_SECRET": "smtp_password_readers",
    }
    # Production signs Cloud Storage links through IAM (no key); the key secret is for the local stack only.
    signing_only_locally = {"URL_SIGNING_KEY_SECRET"}
    assert set(readers_arg) == SECRET_ENV - signing_only_locally, "a new *_SECRET setting needs its secret here"
    for name, body in function_resources(functions_module).items():
        assert not signing_only_locally & set(function_env(functions_module, body)), f"{name} gets a signing key"
    secrets_call = tf.calls["secrets"]
    users: dict[str, set[str]] = {env: set() for env in readers_arg}
    for name, body in function_resources(functions_module).items():
        for key, value in function_env(functions_module, body).items():
            if key not in readers_arg:
                continue
            users[key].add(name)
            terminals = {t for t in tf.trace("functions", value) if t.kind == "resource"}
            assert terminals, f"{name}: {key} does not name a secret resource"
            for terminal in terminals:
                assert terminal.module == "secrets" and terminal.rtype == "google_secret_manager_secret", terminal
                assert terminal.attr == "secret_id", terminal
    for env, function_names in users.items():
        readers = secrets_call[readers_arg[env]]
        text = expression(readers)
        granted = set(re.findall(r"module\.functions\.members\.(\w+)", text))
        assert granted == function_names, f"{env}: readers {sorted(granted)} but used by {sorted(function_names)}"


def test_each_function_gets_exactly_what_its_code_path_uses(tf: Tree, functions_module: Module) -> None:
    """From the factories each entry point reaches in shared/bootstrap.py: SSH to the login node (cluster), the hook
    key (hook_master_key), e-mail (mailer), publishing (publisher) and object reads (object_store) must each come
    with their secret name, IAM grant and network path, and nothing is granted that the code path does not use."""
    reach = bootstrap_reach()
    assert set(reach) == set(entry_points())
    root_text = tf.root.text

    def granted(argument: str) -> set[str]:
        """Functions named in a root module argument map, e.g. ssh_key_readers = { api = module.functions... }."""
        for call in tf.calls.values():
            if argument in call:
                return set(re.findall(r"module\.functions\.members\.(\w+)", expression(call[argument])))
        raise AssertionError(f"no module argument {argument}")

    resources = function_resources(functions_module)
    ssh_functions = {unquote(name) for name in functions_module.locals["ssh_functions"]}
    for name in entry_points():
        uses = reach[name]
        env = function_env(functions_module, resources[name])
        service = block(resources[name], "service_config")
        wants = {
            "ssh": "cluster" in uses,
            "hook": "hook_master_key" in uses,
            "mail": "mailer" in uses,
            "publish": "publisher" in uses,
            "store": "object_store" in uses,
            "links": "results_store" in uses,
        }
        has = {
            "ssh": "SSH_KEY_SECRET" in env
            and name in granted("ssh_key_readers")
            and "dynamic" in service
            and name in ssh_functions,
            "hook": "HOOK_KEY_SECRET" in env and name in granted("hook_key_readers"),
            "mail": "SMTP_PASSWORD_SECRET" in env and name in granted("smtp_password_readers"),
            "publish": name in granted("jobs_publishers"),
            "store": name in granted("design_readers") | granted("result_readers") | granted("result_writers"),
            "links": name in granted("result_writers")
            and name in granted("design_upload_signers")
            and f"{name}_signs_its_own_links"
            in functions_module.resources.get("google_service_account_iam_member", {}),
        }
        partial = {
            "ssh": "SSH_KEY_SECRET" in env or name in granted("ssh_key_readers") or name in ssh_functions,
            "hook": "HOOK_KEY_SECRET" in env or name in granted("hook_key_readers"),
            "mail": "SMTP_PASSWORD_SECRET" in env or name in granted("smtp_password_readers"),
            "publish": has["publish"],
            "store": has["store"],
            "links": name in granted("design_upload_signers"),
        }
        for need, wanted in wants.items():
            if wanted:
                assert has[need], f"{name} reaches {need} in shared/bootstrap.py but lacks its secret/grant/network"
            else:
                assert not partial[need], f"{name} is given {need} but its code path never uses it"
    assert "module.functions.members" in root_text


def test_functions_service_accounts_are_their_own(functions_module: Module) -> None:
    accounts = set()
    for name, body in function_resources(functions_module).items():
        account = expression(block(body, "service_config")["service_account_email"])
        assert f"google_service_account.{name}.email" in account, f"{name} runs as {account}"
        accounts.add(account)
    assert len(accounts) == len(function_resources(functions_module))


def test_dispatcher_instance_limit_fits_the_lease(tf: Tree, functions_module: Module) -> None:
    body = function_resources(functions_module)["dispatcher"]
    limit = expression(block(body, "service_config")["max_instance_count"])
    assert limit == "${var.dispatcher_max_instances}"
    default = tf.root_default("dispatcher_max_instances")
    assert 1 <= default <= 3


def test_flow_runner_choices_are_runners_of_the_code(tf: Tree) -> None:
    variable = tf.root.variables["flow_runner"]
    condition = expression(variable["validation"][0]["condition"])
    allowed = set(re.findall(r'"([\w.-]+)"', condition))
    assert allowed and allowed <= set(FLOW_RUNNERS), allowed
    assert tf.root_default("flow_runner") in allowed


# ------------------------------------------------------------------------------------ nothing declared unused
def test_every_topic_has_a_publisher_and_a_subscriber(tf: Tree, functions_module: Module) -> None:
    pubsub = tf.module("pubsub")
    subscribed = set()
    dead_letter_targets = set()
    for body in pubsub.resources.get("google_pubsub_subscription", {}).values():
        subscribed |= {t.name for t in tf.trace("pubsub", body["topic"])}
        policy = block(body, "dead_letter_policy")
        if policy:
            dead_letter_targets |= {t.name for t in tf.trace("pubsub", policy["dead_letter_topic"])}
    published = set(dead_letter_targets)
    for body in function_resources(functions_module).values():
        env = function_env(functions_module, body)
        published |= {t.name for t in tf.trace("functions", env["JOBS_TOPIC"]) if t.module == "pubsub"}
    scheduler = tf.module("scheduler").resource("google_cloud_scheduler_job", "tick")
    published |= {t.name for t in tf.trace("scheduler", block(scheduler, "pubsub_target")["topic_name"])}
    topics = set(pubsub.resources["google_pubsub_topic"])
    assert topics <= subscribed, f"topics without a subscription: {sorted(topics - subscribed)}"
    assert topics <= published, f"topics nobody publishes to: {sorted(topics - published)}"


def test_every_secret_is_read_by_someone(tf: Tree, functions_module: Module) -> None:
    read = set()
    for body in function_resources(functions_module).values():
        for key, value in function_env(functions_module, body).items():
            if key in SECRET_ENV:
                read |= {t.name for t in tf.trace("functions", value) if t.kind == "resource"}
    # The compute nodes fetch the hook key at boot (modules/slurm_cluster/templates/compute_setup.sh.tftpl).
    read |= {t.name for t in tf.trace("", tf.calls["slurm_cluster"]["hook_key_secret_id"])}
    declared = set(tf.module("secrets").resources["google_secret_manager_secret"])
    assert declared <= read, f"secrets nobody reads: {sorted(declared - read)}"


def test_every_bucket_is_used(tf: Tree, functions_module: Module) -> None:
    used = set()
    for body in function_resources(functions_module).values():
        env = function_env(functions_module, body)
        for key in ("DESIGNS_BUCKET", "RESULTS_BUCKET"):
            used |= {t.name for t in tf.trace("functions", env[key])}
        source = block(block(body, "build_config"), "source")
        used |= {t.name for t in tf.trace("functions", block(source, "storage_source")["bucket"])}
    # The images bucket is written by singularity/containerbuilder.yaml and read by infra/place_image.sh.
    assert "images/" in (REPO / "infra" / "place_image.sh").read_text()
    assert "_IMAGES_BUCKET" in (REPO / "singularity" / "containerbuilder.yaml").read_text()
    used.add("images")
    declared = set(tf.module("buckets").resources["google_storage_bucket"])
    assert declared == used, f"unused buckets: {sorted(declared - used)}"


@pytest.mark.parametrize(
    "name", ["", "buckets", "pubsub", "firestore", "functions", "secrets", "scheduler", "slurm_cluster", "monitoring"]
)
def test_no_unused_variables_locals_or_outputs(tf: Tree, name: str) -> None:
    module = tf.module(name)
    text = re.sub(r"(?m)^\s*#.*$", "", module.text)
    for variable in module.variables:
        assert re.search(rf"\bvar\.{re.escape(variable)}\b", text), f"{name or 'root'}: variable {variable} unused"
    for local in module.locals:
        assert re.search(rf"\blocal\.{re.escape(local)}\b", text), f"{name or 'root'}: local {local} unused"
    if name:
        root_text = tf.root.text
        for output in module.outputs:
            assert re.search(rf"\bmodule\.{name}\.{re.escape(output)}\b", root_text), (
                f"output {output} of module {name} is not used by the root"
            )
        call = tf.calls[name]
        arguments = set(call) - {"source", "depends_on", "count", "for_each", "providers"}
        assert arguments <= set(module.variables), (
            f"{name}: unknown arguments {sorted(arguments - set(module.variables))}"
        )
        required = {v for v, body in module.variables.items() if "default" not in body}
        assert required <= arguments, f"{name}: required variables not passed {sorted(required - arguments)}"


def test_every_file_terraform_reads_exists(tf: Tree) -> None:
    for name in ["", *tf.children]:
        module = tf.module(name)
        for match in re.finditer(
            r'(?:file|templatefile|filemd5)\("\$\{(local\.repo_root|path\.module)\}/([^"]+)"', module.text
        ):
            base = module.path if match.group(1) == "path.module" else module.path / "../../.."
            assert (base / match.group(2)).resolve().is_file(), f"{name}: {match.group(0)} does not exist"


# -------------------------------------------------------------------------------------------------- Firestore
def test_firestore_indexes_are_exactly_the_ones_the_queries_need(tf: Tree) -> None:
    needed = set()
    for query in firestore_queries():
        ordered = tuple(f for f, _ in query.order)
        if query.equalities and ordered and (len(query.equalities) > 1 or ordered != query.equalities):
            needed.add(tuple((f, "ASCENDING") for f in query.equalities) + query.order)
    assert needed, "no ordered queries found: has shared/adapters/firestore_jobs.py changed shape?"
    declared = set()
    for body in tf.module("firestore").resources["google_firestore_index"].values():
        assert unquote(body["collection"]) == "jobs"
        declared.add(tuple((unquote(f["field_path"]), unquote(f["order"])) for f in body["fields"]))
    assert declared == needed, f"indexes missing: {needed - declared}; unused: {declared - needed}"
    from shared.adapters.firestore_replay_guard import CALLBACK_SIGNATURES

    ttl_fields = tf.module("firestore").resources["google_firestore_field"].values()
    assert {(unquote(b["collection"]), unquote(b["field"])) for b in ttl_fields} == {(CALLBACK_SIGNATURES, "expire_at")}
    database = tf.module("firestore").resource("google_firestore_database", "this")
    assert unquote(database["name"]) == "(default)"  # firestore.Client(project) uses the default database
    assert unquote(database["type"]) == "FIRESTORE_NATIVE"


# ------------------------------------------------------------------------------------------------- monitoring
def test_log_based_metrics_count_lines_the_code_writes(tf: Tree) -> None:
    monitoring = tf.module("monitoring")
    metrics: dict[str, tuple[str, set[str]]] = {}
    for key, counter in monitoring.locals["counters"].items():
        fields_used = set(re.findall(r"jsonPayload\.(\w+)", json.dumps(counter["labels"])))
        metrics[key] = (expression(counter["filter"]), fields_used)
    for key, body in monitoring.resources["google_logging_metric"].items():
        if key == "counters":
            continue
        extracted = json.dumps([body.get("value_extractor"), body.get("label_extractors")])
        metrics[key] = (expression(body["filter"]), set(re.findall(r"jsonPayload\.(\w+)", extracted)))
    calls = log_calls()
    problems = []
    for key, (filter_text, fields_used) in metrics.items():
        messages = re.findall(r'jsonPayload\.message=\\?"(.+?)\\?"', filter_text)
        for message in messages:
            matching = [c for c in calls if c.message == message]
            if not matching:
                problems.append(f"{key}: no log line {message!r} in the code")
                continue
            logged = set().union(*(c.fields for c in matching)) | {"job_id", "message", "severity"}
            missing = fields_used - logged
            if missing:
                where = ", ".join(sorted({c.path for c in matching}))
                problems.append(f"{key}: {message!r} ({where}) does not log {sorted(missing)}")
    assert not problems, "log-based metrics read what the code does not write:\n" + "\n".join(problems)


# ------------------------------------------------------------------------------------------------ the READMEs
def render_default(value: Any) -> str:
    value = unquote(value)
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`{json.dumps(value)}`"
    if isinstance(value, (list, dict)):
        value = [unquote(v) for v in value] if isinstance(value, list) else clean(value)
        return f"`{json.dumps(value, separators=(', ', ' = ') if isinstance(value, dict) else None)}`"
    return f"`{value}`"


def inputs_table(module: Module) -> str:
    rows = ["| Name | Description | Type | Default | Required |", "|------|-------------|------|---------|:--------:|"]
    for name in sorted(module.variables):
        body = module.variables[name]
        description = str(unquote(body.get("description", ""))).replace("|", "\\|")
        kind = type_text(body.get("type", "any")).replace("|", "\\|")
        required = "default" not in body
        default = "n/a" if required else render_default(body["default"])
        rows.append(f"| `{name}` | {description} | `{kind}` | {default} | {'yes' if required else 'no'} |")
    return "\n".join(rows)


def outputs_table(module: Module) -> str:
    rows = ["| Name | Description |", "|------|-------------|"]
    for name in sorted(module.outputs):
        description = str(unquote(module.outputs[name].get("description", ""))).replace("|", "\\|")
        rows.append(f"| `{name}` | {description} |")
    return "\n".join(rows)


def readme_section(readme: str, heading: str) -> str:
    match = re.search(rf"^## {heading}\n\n(.*?)(?:\n\n|\n?$)(?=## |\Z)", readme, re.S | re.M)
    assert match, f"README has no '## {heading}' section"
    return match.group(1).strip()


@pytest.mark.parametrize(
    "name", ["", "buckets", "pubsub", "firestore", "functions", "secrets", "scheduler", "slurm_cluster", "monitoring"]
)
def test_readme_tables_match_the_variables_and_outputs(tf: Tree, name: str) -> None:
    module = tf.module(name)
    readme = (module.path / "README.md").read_text()
    where = f"{module.path.relative_to(REPO)}/README.md"
    assert readme_section(readme, "Inputs") == inputs_table(module), f"{where}: Inputs table is stale"
    assert readme_section(readme, "Outputs") == outputs_table(module), f"{where}: Outputs table is stale"


# ------------------------------------------------------------------------------------- Cloud Build and images
BUILD_FILES = ["cloudbuild.yaml", "singularity/singularitybuilder.yaml", "singularity/containerbuilder.yaml"]
BUILTIN_SUBSTITUTIONS = {
    "PROJECT_ID",
    "PROJECT_NUMBER",
    "BUILD_ID",
    "LOCATION",
    "TRIGGER_NAME",
    "COMMIT_SHA",
    "SHORT_SHA",
    "REVISION_ID",
    "BRANCH_NAME",
    "TAG_NAME",
    "REPO_NAME",
    "REPO_FULL_NAME",
    "SERVICE_ACCOUNT",
    "SERVICE_ACCOUNT_EMAIL",
}


def substitutions_used(text: str) -> set[str]:
    """$_FOO / ${_FOO} and built-ins, ignoring $$-escaped shell variables."""
    text = text.replace("$$", "")
    return set(re.findall(r"\$\{?(_[A-Z0-9_]+|[A-Z][A-Z0-9_]+)\}?", text))


@pytest.mark.parametrize("path", BUILD_FILES)
def test_build_files_parse_and_declare_every_substitution(path: str) -> None:
    config = yaml.safe_load((REPO / path).read_text())
    assert isinstance(config, dict) and config.get("steps"), f"{path}: no steps"
    body = yaml.safe_dump({k: v for k, v in config.items() if k != "substitutions"})
    used = substitutions_used(body)
    declared = set(config.get("substitutions") or {})
    user_used = {s for s in used if s.startswith("_")}
    assert user_used <= declared, f"{path}: substitutions used but not declared: {sorted(user_used - declared)}"
    assert declared <= user_used, f"{path}: substitutions declared but unused: {sorted(declared - user_used)}"
    assert used - user_used <= BUILTIN_SUBSTITUTIONS, (
        f"{path}: unknown built-ins {sorted(used - user_used - BUILTIN_SUBSTITUTIONS)}"
    )
    ids = {step.get("id") for step in config["steps"]}
    for step in config["steps"]:
        assert step.get("name"), f"{path}: a step without an image"
        for wait in step.get("waitFor", []):
            assert wait == "-" or wait in ids, f"{path}: waitFor {wait} is no step id"


@pytest.mark.parametrize("path", BUILD_FILES)
def test_build_files_run_only_repo_files_that_exist(path: str) -> None:
    config = yaml.safe_load((REPO / path).read_text())
    defaults = {k: str(v) for k, v in (config.get("substitutions") or {}).items()}
    text = yaml.safe_dump(config["steps"])
    for key, value in defaults.items():
        text = text.replace("${" + key + "}", value).replace("$" + key, value)
    referenced = set(
        re.findall(r"(?<![\w/.-])((?:infra|singularity|terraform|tests|shared|functions)/[\w./-]*\w)", text)
    )
    referenced |= set(re.findall(r"(?<![\w/.-])(requirements(?:-dev)?\.txt)", text))
    if path != "singularity/singularitybuilder.yaml":  # that one builds from a generated Dockerfile only
        assert referenced, f"{path}: references no repo file?"
    missing = sorted(r for r in referenced if not (REPO / r).exists())
    assert not missing, f"{path}: references missing repo paths {missing}"
    for script in (r for r in referenced if r.endswith(".sh")):
        assert (REPO / script).stat().st_mode & 0o111, f"{script} is not executable"


def test_containerbuilder_builds_every_definition_it_allows() -> None:
    text = (REPO / "singularity" / "containerbuilder.yaml").read_text()
    config = yaml.safe_load(text)
    cases = re.search(r'case "\$\{_IMAGE\}" in\s+([\w |]+)\)', text)
    assert cases, "containerbuilder.yaml no longer checks _IMAGE"
    allowed = set(cases.group(1).replace(" ", "").split("|"))
    assert allowed == {p.stem for p in (REPO / "singularity").glob("*.def")}
    assert config["substitutions"]["_IMAGE"] in allowed
    place = (REPO / "infra" / "place_image.sh").read_text()
    assert all(name in place for name in allowed)
    for field_name, name in (("openlane_image", "openlane"), ("librelane_image", "librelane")):
        assert Settings.__dataclass_fields__[field_name].default == f"/apps/{name}/{name}.sif"


# --------------------------------------------------------------------------------------------------- checkov
def checkov_binary() -> str:
    if CHECKOV.exists():
        return str(CHECKOV)
    found = shutil.which("checkov")
    if found:
        return found
    pytest.fail(
        f"checkov is not installed: expected {CHECKOV.relative_to(REPO)} (`make lint` creates .venv-checkov and "
        f"installs {CHECKOV_PIN} there, apart from the pinned runtime packages) or `checkov` on PATH"
    )


def test_checkov_reports_no_failed_checks() -> None:
    result = subprocess.run(
        [
            checkov_binary(),
            "-d",
            str(TERRAFORM),
            "--quiet",
            "--compact",
            "--skip-download",
            "--framework",
            "terraform",
            "secrets",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "LOG_LEVEL": "ERROR"},  # quiet the "cannot load remote module" warnings (offline)
    )
    start = result.stdout.find("[") if result.stdout.lstrip().startswith("[") else result.stdout.find("{")
    assert start >= 0, f"checkov printed no report (exit {result.returncode}):\n{result.stderr[-2000:]}"
    reports = json.loads(result.stdout[start:])
    reports = reports if isinstance(reports, list) else [reports]
    failed, unexplained = [], []
    for report in reports:
        results = report.get("results", {})
        failed += [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in results.get("failed_checks", [])]
        for check in results.get("skipped_checks", []):
            reason = (check.get("check_result") or {}).get("suppress_comment", "")
            if len(reason.strip()) < 10:
                unexplained.append(f"{check['check_id']} {check['resource']}")
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert not unexplained, "checkov checks skipped without a written reason:\n" + "\n".join(unexplained)

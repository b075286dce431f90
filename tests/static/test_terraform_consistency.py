"""terraform/ against the code, offline (python-hcl2): functions/main.py, shared/config.py, shared/bootstrap.py, the
Firestore queries and the log lines.

Each setting is declared once. shared/config.py is the list of what the functions read; Terraform declares the tunable
settings once, as the attributes of the root variable `service`, derives the environment from it mechanically, and
takes every other setting from resources (modules/functions: `wiring_env`, and the `secrets` of each row of the table
`local.functions`). Checked: every Settings variable is exactly one of tunable, wired or local-stack-only; the
attributes have the code's names, types and defaults; the derivation is the one function_env() models; wired values
point at the declared resources; each function gets exactly the secrets, grants and network its code path uses, and
the trigger its decorator expects; topics, buckets, secrets and indexes are used and exist; log-based metrics count
lines the code writes; the READMEs' tables match the variables and outputs.
"""

from __future__ import annotations

import ast
import functools
import itertools
import json
import re
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import hcl2
import pytest

from shared.config import FLOW_RUNNERS, Settings
from shared.domain.events import STORAGE_FINALIZED

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"

SETTINGS = {f.name: f for f in fields(Settings)}
SETTINGS_ENV = {f.metadata["env"]: f for f in fields(Settings)}
REQUIRED_ENV = {env for env, f in SETTINGS_ENV.items() if f.default is MISSING and f.default_factory is MISSING}
SECRET_ENV = {env for env in SETTINGS_ENV if env.endswith("_SECRET")}

# Settings the deployment never sets, and why: the local stack's emulators, secret files and faults.
LOCAL_STACK_ONLY = {
    "SECRETS_BACKEND": "production reads secrets from Secret Manager, the default",
    "SECRETS_DIR": "secret files, with SECRETS_BACKEND=directory only",
    "URL_SIGNING_KEY_SECRET": "production signs links through IAM as the function's own service account",
    "STORAGE_PUBLIC_URL": "the Cloud Storage emulator's address; production keeps the default",
    "JOB_STORAGE_ENDPOINT": "the Cloud Storage emulator as the nodes reach it; production keeps the default",
    "OLC_FAULTS_FILE": "fault injection of the local stack's tests; ignored in production",
    "GIT_ALLOWED_HTTP_HOSTS": "the local stack's git server on loopback; production fetches over https from public "
    "addresses only, and must never allow a host past that check",
    "GIT_WORK_DIR": "the local stack's state folder; production uses the instance's temporary folder (memory)",
}
# Where the deployment's default differs from the code's (whose defaults suit the local stack), and why.
PRODUCTION_DEFAULTS = {
    "flow_runner": "qflow-osu035 runs on the local stack only",
    "container_binary": "the created cluster installs Apptainer",
    "slurm_partition": "the created cluster's partition is named after the deployment",
}
# The derivations in terraform/main.tf and modules/functions that function_env() models.
SERVICE_ENV = '{for name, value in var.service : upper(name) => join(",", flatten([value])) if value != null}'
FUNCTION_ENV = (
    "{for key, function in local.functions : key => merge("
    '{for name, value in var.settings : name => value if function.id_tokens || !startswith(name, "ID_TOKEN_")}, '
    'local.wiring_env, {for secret in function.secrets : upper("${secret}_secret") => var.secret_ids[secret]})}'
)
TERRAFORM_TYPES = {int: "number", float: "number", str: "string", bool: "bool", tuple: "list(string)"}

# Terraform references inside an expression: var.x, local.x, module.m.o, and resource/data attributes.
REF = re.compile(
    r"\b(?:(?P<kind>var|local|module)\.(?P<path>[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)"
    r"|(?:data\.)?(?P<rtype>(?:google|random)_\w+)\.(?P<rname>[A-Za-z_][\w-]*)(?:\[[^\]]*\])?(?:\.(?P<attr>\w+))?)"
)


# ------------------------------------------------------------------------------------------ reading Terraform
def unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals and labels: "\"x\"" -> "x"."""
    if isinstance(value, list):
        return [unquote(v) for v in value]
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


def bare(value: Any) -> str:
    """An expression without its `${...}` and blanks, for comparing derivations."""
    text = expression(value)
    return re.sub(r"\s+", "", text[2:-1] if text.startswith("${") else text)


def type_text(value: Any) -> str:
    text = str(value)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The first nested block called `name` (hcl2 gives blocks as lists); `dynamic "name"` blocks included."""
    value = body.get(name)
    for item in body.get("dynamic", []) if value is None else []:
        if name in item:
            return {"for_each": item[name]["for_each"], **block(item[name], "content")}
    return (value[0] if value else {}) if isinstance(value, list) else value or {}


@dataclass
class Module:
    path: Path
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    text: str = ""

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        return self.resources[rtype][name]


def load_module(path: Path) -> Module:
    module = Module(path)
    for tf in sorted(path.glob("*.tf")):
        module.text += tf.read_text() + "\n"
        parsed = clean(hcl2.load(tf.open()))
        targets = {
            "variable": module.variables,
            "locals": module.locals,
            "output": module.outputs,
            "module": module.modules,
        }
        for kind, target in targets.items():
            for item in parsed.get(kind, []):
                target.update(item)
        for item in parsed.get("resource", []):
            for rtype, by_name in item.items():
                module.resources.setdefault(rtype, {}).update(by_name)
    return module


@dataclass(frozen=True)
class Terminal:
    """Where a reference chain ends: a resource (or data source) attribute, or a root variable."""

    module: str  # "" for the root
    rtype: str  # "var" for a root variable
    name: str
    attr: str = ""


class Tree:
    """The root module and the local modules it calls, with reference tracing across module boundaries."""

    def __init__(self, root: Path) -> None:
        self.root = load_module(root)
        self.calls = {n: b for n, b in self.root.modules.items() if str(unquote(b["source"])).startswith("./")}
        self.children = {n: load_module(root / unquote(b["source"])) for n, b in self.calls.items()}

    def module(self, name: str) -> Module:
        return self.root if name == "" else self.children[name]

    def trace(self, module_name: str, value: Any, seen: frozenset[str] = frozenset()) -> set[Terminal]:
        """Every resource attribute (or root variable) the expression's value can come from."""
        found: set[Terminal] = set()
        module = self.module(module_name)
        for match in REF.finditer(expression(value)):
            key = f"{module_name}:{match.group(0)}"
            if key in seen:
                continue
            if match.group("rtype"):
                found.add(Terminal(module_name, match.group("rtype"), match.group("rname"), match.group("attr") or ""))
                continue
            kind, (name, *rest) = match.group("kind"), match.group("path").split(".")
            if kind == "var" and module_name == "":
                found.add(Terminal("", "var", name))
            elif kind == "var" and name in self.calls[module_name]:
                found |= self.trace("", self.calls[module_name][name], seen | {key})
            elif kind == "local" and name in module.locals:
                found |= self.trace(module_name, module.locals[name], seen | {key})
            elif kind == "module" and rest and rest[0] in getattr(self.children.get(name), "outputs", {}):
                found |= self.trace(name, self.children[name].outputs[rest[0]]["value"], seen | {key})
        return found


@functools.cache
def tree() -> Tree:
    return Tree(TERRAFORM)


# ------------------------------------------------------------------------------------ the settings in Terraform
def service_attributes(tf: Tree) -> dict[str, Any]:
    """Attribute -> (type, default) of the root variable `service`: object({name = optional(type[, default]), ...});
    default MISSING: none here, the code's default applies."""
    kind = type_text(tf.root.variables["service"]["type"])
    items = re.findall(r"(\w+) = optional\((number|string|bool|list\(string\))(?:, (.*?))?\)(?:, |\}\)$)", kind)
    assert len(items) == kind.count(" = "), (
        f"every attribute of service is optional(...) with a literal default: {kind}"
    )
    return {name: (kind, json.loads(default) if default else MISSING) for name, kind, default in items}


def functions_table(tf: Tree) -> dict[str, dict[str, Any]]:
    """local.functions of modules/functions: one row per function, keyed by entry point."""
    table = tf.module("functions").locals["functions"]
    return {name: {k: unquote(v) for k, v in row.items()} for name, row in table.items()}


def secret_names(tf: Tree) -> list[str]:
    """The secrets of the functions module's `secret_ids`; a function given secret `x` gets X_SECRET."""
    return re.findall(r"(\w+) = string", type_text(tf.module("functions").variables["secret_ids"]["type"]))


def secret_value(tf: Tree, secret: str) -> Any:
    """What the functions get as the secret's id: the `ids` output of module secrets, passed as a whole."""
    assert expression(tf.calls["functions"]["secret_ids"]) == "${module.secrets.ids}"
    return tf.module("secrets").outputs["ids"]["value"][secret]


def function_env(tf: Tree, name: str) -> dict[str, Any]:
    """Environment variable -> Terraform expression, as SERVICE_ENV and FUNCTION_ENV derive it."""
    row = functions_table(tf)[name]
    env = {a.upper(): f"${{var.service.{a}}}" for a in service_attributes(tf)}
    env = {k: v for k, v in env.items() if row["id_tokens"] or not k.startswith("ID_TOKEN_")}
    env.update(tf.module("functions").locals["wiring_env"])
    env.update({f"{secret.upper()}_SECRET": f"${{var.secret_ids.{secret}}}" for secret in row["secrets"]})
    return env


def granted(tf: Tree, argument: str) -> set[str]:
    """Functions named in a root module argument, e.g. jobs_publishers = { api = module.functions.members.api }."""
    [text] = [expression(call[argument]) for call in tf.calls.values() if argument in call]
    readers = re.search(r"module\.functions\.secret_readers\.(\w+)", text)  # derived from the rows' `secrets`
    if readers:
        return {name for name, row in functions_table(tf).items() if readers.group(1) in row["secrets"]}
    return set(re.findall(r"module\.functions\.members\.(\w+)", text))


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


def signs_links() -> dict[str, bool]:
    """entry point -> whether its code path signs Cloud Storage links: a shared/web or shared/services module it
    imports (transitively) calls `.signed_url(`. results_store() also lists, copies and deletes results; only the
    signing needs the signer's grants (signBlob on itself, and create on the designs bucket for upload links)."""
    signs = {}
    for path in (REPO / "functions").glob("*.py"):
        source = ast.parse(path.read_text())
        entries = [
            n.name
            for n in source.body
            if isinstance(n, ast.FunctionDef)
            and any(getattr(getattr(d, "value", None), "id", "") == "functions_framework" for d in n.decorator_list)
        ]
        todo = {n.module for n in ast.walk(source) if isinstance(n, ast.ImportFrom) and n.module}
        seen: set[str] = set()
        found = False
        while todo:
            module = todo.pop()
            if module in seen or not module.startswith(("shared.web", "shared.services")):
                continue
            seen.add(module)
            file = REPO / (module.replace(".", "/") + ".py")
            file = file if file.is_file() else REPO / module.replace(".", "/") / "__init__.py"
            if not file.is_file():
                continue
            text = file.read_text()
            found |= ".signed_url(" in text
            for n in ast.walk(ast.parse(text)):
                if isinstance(n, ast.ImportFrom) and n.module in ("shared.web", "shared.services"):
                    todo |= {f"{n.module}.{alias.name}" for alias in n.names}
                elif isinstance(n, ast.ImportFrom) and n.module:
                    todo.add(n.module)
        signs.update(dict.fromkeys(entries, found))
    return signs


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
def table(tf: Tree) -> dict[str, dict[str, Any]]:
    return functions_table(tf)


def the_function(tf: Tree) -> dict[str, Any]:
    """The one google_cloudfunctions2_function, for_each over the table."""
    [body] = tf.module("functions").resources["google_cloudfunctions2_function"].values()
    assert expression(body["for_each"]) == "${local.functions}"
    return body


# ------------------------------------------------------------------------------------ each setting declared once
def test_every_setting_is_tunable_wired_or_local_only(tf: Tree) -> None:
    groups = {
        "variable service": {attribute.upper() for attribute in service_attributes(tf)},
        "wiring_env": set(tf.module("functions").locals["wiring_env"]),
        "secret_ids": {f"{secret.upper()}_SECRET" for secret in secret_names(tf)},
        "LOCAL_STACK_ONLY": set(LOCAL_STACK_ONLY),
    }
    for (a, one), (b, other) in itertools.combinations(groups.items(), 2):
        assert not one & other, f"{sorted(one & other)} are in both {a} and {b}"
    declared = set().union(*groups.values())
    assert not declared - set(SETTINGS_ENV), f"not in shared/config.py: {sorted(declared - set(SETTINGS_ENV))}"
    assert not set(SETTINGS_ENV) - declared, (
        f"settings of shared/config.py the deployment does not know: {sorted(set(SETTINGS_ENV) - declared)}; add "
        "each to variable service in terraform/variables.tf (and README.md) or to LOCAL_STACK_ONLY here"
    )


def test_service_attributes_have_the_codes_names_types_and_defaults(tf: Tree) -> None:
    for name, (kind, default) in service_attributes(tf).items():
        setting = SETTINGS.get(name)
        assert setting and setting.metadata["env"] == name.upper(), f"service.{name} is not the Settings field {name}"
        assert kind == TERRAFORM_TYPES[type(setting.default)], f"service.{name} is a {kind}, not the code's type"
        code = list(setting.default) if isinstance(setting.default, tuple) else setting.default
        if name in PRODUCTION_DEFAULTS:
            assert default not in (MISSING, code), (
                f"service.{name} has the code's default: drop it from PRODUCTION_DEFAULTS"
            )
        else:
            assert default in (MISSING, code), f"service.{name} defaults to {default!r}, the code to {code!r}"
    assert set(PRODUCTION_DEFAULTS) <= set(service_attributes(tf))


def test_service_validations_follow_the_code(tf: Tree) -> None:
    conditions = [expression(v["condition"]) for v in tf.root.variables["service"]["validation"]]
    # One rule for the numbers: shared/config.py reads each as positive, and whole but where it parses a float.
    numbers = {name for name, (kind, _) in service_attributes(tf).items() if kind == "number"}
    assert {SETTINGS[n].metadata["parse"].__name__ for n in numbers} == {"_positive_int", "_positive_float"}
    [rule] = [c for c in conditions if "for name, value in var.service" in c]
    assert set(re.findall(r'"(\w+)"', rule)) == {n for n in numbers if isinstance(SETTINGS[n].default, float)}
    [runner] = [c for c in conditions if "var.service.flow_runner" in c]
    assert set(re.findall(r'"([\w.-]+)"', runner)) <= set(FLOW_RUNNERS)
    assert service_attributes(tf)["flow_runner"][1] in runner
    [extra] = [c for c in conditions if "var.service.extra_flows" in c]
    assert set(re.findall(r'"([\w.-]+)"', extra)) == set(FLOW_RUNNERS)
    [versions] = [c for c in conditions if "var.service.flow_versions" in c]
    assert set(re.findall(r'"([\w.-]+)"', versions)) - {"="} == set(FLOW_RUNNERS)
    [reuse] = [c for c in conditions if "var.service.result_reuse" in c]
    assert set(re.findall(r'"(\w+)"', reuse)) == {"user", "all", "off"}  # Settings._check: RESULT_REUSE


def test_the_environment_is_derived_as_function_env_models_it(tf: Tree) -> None:
    assert bare(tf.root.locals["service_env"]) == re.sub(r"\s+", "", SERVICE_ENV)
    assert expression(tf.calls["functions"]["settings"]) == "${local.service_env}"
    assert bare(tf.module("functions").locals["function_env"]) == re.sub(r"\s+", "", FUNCTION_ENV)
    service = block(the_function(tf), "service_config")
    assert expression(service["environment_variables"]) == "${local.function_env[each.key]}"


def test_every_function_env_var_is_a_setting_and_required_ones_are_set(tf: Tree, table: dict[str, Any]) -> None:
    for name in table:
        env = function_env(tf, name)
        assert set(env) <= set(SETTINGS_ENV), f"{name}: not in shared/config.py: {sorted(set(env) - set(SETTINGS_ENV))}"
        assert set(env) >= REQUIRED_ENV, f"{name} lacks required settings {sorted(REQUIRED_ENV - set(env))}"
        # Settings._check: production needs a way to find the login node and a real hook authentication.
        assert {"SLURM_LOGIN_HOST", "LOGIN_NODE_ZONE"} <= set(env)
        assert (unquote(env["OLC_ENV"]), unquote(env["HOOK_AUTH"])) == ("production", "google-id-token")


def test_wired_settings_point_at_the_declared_resources(tf: Tree) -> None:
    wiring = tf.module("functions").locals["wiring_env"]
    expected = {
        "DESIGNS_BUCKET": Terminal("buckets", "google_storage_bucket", "designs", "name"),
        "RESULTS_BUCKET": Terminal("buckets", "google_storage_bucket", "results", "name"),
        "JOBS_TOPIC": Terminal("pubsub", "google_pubsub_topic", "jobs", "name"),
        "GIT_FETCH_TOPIC": Terminal("pubsub", "google_pubsub_topic", "git_fetches", "name"),
        # the project id, taken from the enabled APIs so that every module waits for them (main.tf)
        "GOOGLE_CLOUD_PROJECT": Terminal("", "google_project_service", "apis"),
    }
    assert expression(tf.root.resource("google_project_service", "apis")["project"]) == "${var.project_id}"
    for key, terminal in expected.items():
        assert terminal in tf.trace("functions", wiring[key]), f"{key} comes from {tf.trace('functions', wiring[key])}"
    # the deterministic run.app URLs of the functions, and the login node as the cluster module reports it
    assert "https://" in expression(tf.module("functions").locals["urls"])
    assert (wiring["COMPLETION_URL"], wiring["STATUS_BASE_URL"]) == ("${local.urls.completion}", "${local.urls.api}")
    for key, part in (("SLURM_LOGIN_HOST", "host"), ("LOGIN_NODE_ZONE", "zone"), ("LOGIN_NODE_PATTERN", "pattern")):
        assert wiring[key] == f"${{var.login_node.{part}}}"
        assert part in tf.module("slurm_cluster").outputs["login_node"]["value"]
    assert expression(tf.calls["functions"]["login_node"]) == "${module.slurm_cluster.login_node}"
    # the jobs and git-fetch topics have the code's default names
    prefix = unquote(tf.root.variables["name_prefix"]["default"])
    for label, variable, setting in (
        ("jobs", "jobs_topic_name", "JOBS_TOPIC"),
        ("git_fetches", "git_fetch_topic_name", "GIT_FETCH_TOPIC"),
    ):
        assert expression(tf.module("pubsub").resource("google_pubsub_topic", label)["name"]) == f"${{var.{variable}}}"
        topic = expression(tf.calls["pubsub"][variable]).replace("${var.name_prefix}", prefix)
        assert topic == SETTINGS_ENV[setting].default


def test_secret_env_vars_name_secrets_their_function_may_read(tf: Tree, table: dict[str, Any]) -> None:
    # Production signs Cloud Storage links through IAM (no key): the key secret is LOCAL_STACK_ONLY.
    assert {f"{secret.upper()}_SECRET" for secret in secret_names(tf)} == SECRET_ENV - set(LOCAL_STACK_ONLY)
    assert all(set(row["secrets"]) <= set(secret_names(tf)) for row in table.values())
    for secret in secret_names(tf):
        terminals = {(t.rtype, t.attr) for t in tf.trace("secrets", secret_value(tf, secret)) if t.rtype != "var"}
        assert terminals == {("google_secret_manager_secret", "secret_id")}, f"{secret} names {terminals}"
        # Who may read a secret comes from the same rows: exactly the functions told its name.
        assert f"module.functions.secret_readers.{secret}" in expression(tf.calls["secrets"][f"{secret}_readers"])
    readers = expression(tf.module("functions").outputs["secret_readers"]["value"])
    assert "keys(var.secret_ids)" in readers and "if contains(function.secrets, secret)" in readers


# ---------------------------------------------------------------------------------------------- the functions
def test_every_entry_point_has_a_function_with_the_trigger_its_decorator_expects(tf: Tree, table: dict) -> None:
    assert sorted(table) == sorted(entry_points())
    assert expression(block(the_function(tf), "build_config")["entry_point"]) == "${each.key}"
    kinds = decorator_kinds()
    expected = {"storage": "cloud_event", "push": "cloud_event", "http": "http"}
    assert {name: expected[row["trigger"]] for name, row in table.items()} == {name: kinds[name] for name in table}
    # storage: ingest, on objects finalized in the designs bucket
    trigger = block(the_function(tf), "event_trigger")
    assert expression(trigger["for_each"]) == '${each.value.trigger == "storage" ? [var.designs_bucket] : []}'
    assert (unquote(trigger["event_type"]), unquote(trigger["retry_policy"])) == (
        STORAGE_FINALIZED,
        "RETRY_POLICY_RETRY",
    )
    assert [(unquote(f["attribute"]), f["value"]) for f in trigger["event_filters"]] == [
        ("bucket", "${event_trigger.value}")
    ]
    assert tf.trace("functions", "${var.designs_bucket}") == {
        Terminal("buckets", "google_storage_bucket", "designs", "name")
    }
    # push: the dispatcher, woken by push subscriptions on the jobs and tick topics; it records what the
    # dead-letter topic (of the jobs and git-fetch subscriptions) pushes to it. The git fetcher, by a push
    # subscription on the git-fetch topic (modules/pubsub).
    pushes = {"dispatcher": {"jobs", "tick", "jobs_dead_letter"}, "git_fetcher": {"git_fetches"}}
    assert sorted(name for name, row in table.items() if row["trigger"] == "push") == sorted(pushes)
    for name in pushes:
        assert expression(tf.calls["pubsub"][f"{name}_url"]) == f"${{module.functions.urls.{name}}}"
    pushed: dict[str, set[str]] = {name: set() for name in pushes}
    for body in tf.module("pubsub").resources["google_pubsub_subscription"].values():
        push = block(body, "push_config")
        if push:
            # Functions Framework reads the topic from the path of a raw push: /projects/P/topics/T.
            endpoint = expression(push["push_endpoint"])
            own = re.fullmatch(r"\$\{var\.(\w+)_url\}/projects/\$\{var\.project_id\}/topics/\$\{(.+)\.name\}", endpoint)
            assert own and own.group(1) in pushes, f"push to a function's URL: {endpoint}"
            assert body["topic"] == f"${{{own.group(2)}.id}}", f"push to the path of the own topic: {endpoint}"
            assert expression(block(push, "oidc_token")["audience"]) == f"${{var.{own.group(1)}_url}}"
            pushed[own.group(1)] |= {terminal.name for terminal in tf.trace("pubsub", body["topic"])}
    assert pushed == pushes, pushed


def test_each_function_gets_exactly_what_its_code_path_uses(tf: Tree, table: dict[str, dict[str, Any]]) -> None:
    """From the factories each entry point reaches in shared/bootstrap.py: SSH to the login node (cluster), the hook
    key (hook_master_key), e-mail (mailer), ID tokens (identity), publishing (publisher; git submissions' fetches:
    git_submit_deps), object reads (object_store) and results (results_store; signed links where its code path signs
    them) each come with their settings, secret, IAM grant and network path, and nothing is given that the code path
    does not use."""
    reach, signing = bootstrap_reach(), signs_links()
    assert set(reach) == set(entry_points())
    functions = tf.module("functions")
    service = block(the_function(tf), "service_config")
    # The network and the login node lookup follow the rows' `cluster`.
    assert "each.value.cluster" in expression(service["direct_vpc_egress"])
    assert "each.value.cluster" in expression(block(service, "direct_vpc_network_interface")["for_each"])
    assert "if function.cluster" in expression(functions.resource("google_project_iam_member", "login_finders"))
    signers = {
        label.split("_")[0] for label in functions.resources["google_service_account_iam_member"] if "_signs_" in label
    }
    stores = granted(tf, "design_readers") | granted(tf, "result_readers") | granted(tf, "result_writers")
    stores |= granted(tf, "git_design_writers")  # the git fetcher: its own olc-git/ objects of the designs bucket
    for name, row in table.items():
        env, uses = function_env(tf, name), reach[name]
        uses = uses | ({"signed links"} if signing[name] else set())
        given = {
            "cluster": [row["cluster"], "ssh_key" in row["secrets"], name in granted(tf, "ssh_key_readers")],
            "hook_master_key": ["HOOK_KEY_SECRET" in env, name in granted(tf, "hook_key_readers")],
            "mailer": ["SMTP_PASSWORD_SECRET" in env, name in granted(tf, "smtp_password_readers")],
            "identity": [row["id_tokens"], "ID_TOKEN_AUDIENCES" in env],
            "publisher": [name in granted(tf, "jobs_publishers") | granted(tf, "git_fetch_publishers")],
            "git_submit_deps": [name in granted(tf, "git_fetch_publishers")],
            "object_store": [name in stores],
            "signed links": [name in granted(tf, "design_upload_signers"), name in signers],
        }
        for factory, parts in given.items():
            if factory in uses:
                assert all(parts), f"{name} reaches {factory} in shared/bootstrap.py but lacks part of it: {parts}"
            else:
                assert not any(parts), f"{name} is given {factory}'s access but its code path never uses it"
        # results_store() lists, copies and deletes results (objectUser); signing links is one use of it.
        assert "results_store" not in uses or name in granted(tf, "result_writers")
        assert "signed links" not in uses or "results_store" in uses


def test_functions_run_as_their_own_accounts_and_only_the_api_is_public(tf: Tree, table: dict[str, Any]) -> None:
    """checkov sees one function resource (and skips CKV_GCP_124 on it for the api): the rows are checked here."""
    functions = tf.module("functions")
    service = block(the_function(tf), "service_config")
    assert service["service_account_email"] == "${google_service_account.runtime[each.key].email}"
    assert functions.resource("google_service_account", "runtime")["for_each"] == "${local.functions}"
    assert service["ingress_settings"] == "${each.value.ingress}"
    assert {name: row["ingress"] for name, row in table.items()} == {
        "ingest": "ALLOW_INTERNAL_ONLY",
        "dispatcher": "ALLOW_INTERNAL_ONLY",
        "completion": "${var.completion_ingress}",  # internal, but ALLOW_ALL for a cluster outside the VPC
        "api": "ALLOW_ALL",  # verifies a Google ID token on every request
        "git_fetcher": "ALLOW_INTERNAL_ONLY",
    }
    # The git fetcher runs git against user-given hosts: never on the private network (no Direct VPC egress).
    assert table["git_fetcher"]["cluster"] is False
    invokers = functions.resources["google_cloud_run_v2_service_iam_member"]
    assert [label for label, body in invokers.items() if unquote(body["member"]) == "allUsers"] == [
        "public_invokes_api"
    ]
    assert 'this["api"]' in invokers["public_invokes_api"]["name"]
    assert 'if function.trigger != "http"' in expression(invokers["events_invoke"]["for_each"])
    # One dispatcher works at a time under the Firestore lease: the instance limit only bounds the ones waiting.
    assert table["dispatcher"]["max_instances"] == "${var.dispatcher_max_instances}"
    assert 1 <= unquote(tf.root.variables["dispatcher_max_instances"]["default"]) <= 3


# ------------------------------------------------------------------------------------ nothing declared unused
def test_every_topic_has_a_publisher_and_a_subscriber(tf: Tree) -> None:
    pubsub = tf.module("pubsub")
    subscribed, published = set(), set()
    for body in pubsub.resources["google_pubsub_subscription"].values():
        subscribed |= {t.name for t in tf.trace("pubsub", body["topic"])}
        policy = block(body, "dead_letter_policy")
        published |= {t.name for t in tf.trace("pubsub", policy["dead_letter_topic"])} if policy else set()
    wiring = tf.module("functions").locals["wiring_env"]
    published |= {t.name for key in ("JOBS_TOPIC", "GIT_FETCH_TOPIC") for t in tf.trace("functions", wiring[key])}
    scheduler = tf.module("scheduler").resource("google_cloud_scheduler_job", "tick")
    published |= {t.name for t in tf.trace("scheduler", block(scheduler, "pubsub_target")["topic_name"])}
    topics = set(pubsub.resources["google_pubsub_topic"])
    assert topics <= subscribed, f"topics without a subscription: {sorted(topics - subscribed)}"
    assert topics <= published, f"topics nobody publishes to: {sorted(topics - published)}"


def test_every_secret_and_bucket_is_used(tf: Tree, table: dict[str, Any]) -> None:
    read = set()
    for secret in {secret for row in table.values() for secret in row["secrets"]}:
        read |= {t.name for t in tf.trace("secrets", secret_value(tf, secret)) if t.rtype != "var"}
    # The compute nodes fetch the hook key at boot (modules/slurm_cluster/templates/compute_setup.sh.tftpl).
    read |= {t.name for t in tf.trace("", tf.calls["slurm_cluster"]["hook_key_secret_id"])}
    declared = set(tf.module("secrets").resources["google_secret_manager_secret"])
    assert declared <= read, f"secrets nobody reads: {sorted(declared - read)}"

    wiring = tf.module("functions").locals["wiring_env"]
    used = {t.name for key in ("DESIGNS_BUCKET", "RESULTS_BUCKET") for t in tf.trace("functions", wiring[key])}
    source = block(block(the_function(tf), "build_config"), "source")
    used |= {t.name for t in tf.trace("functions", block(source, "storage_source")["bucket"])}
    # The images bucket is written by singularity/containerbuilder.yaml and read by infra/place_image.sh.
    assert "images/" in (REPO / "infra" / "place_image.sh").read_text()
    assert "_IMAGES_BUCKET" in (REPO / "singularity" / "containerbuilder.yaml").read_text()
    declared = set(tf.module("buckets").resources["google_storage_bucket"])
    assert declared == used | {"images"}, f"unused buckets: {sorted(declared - used - {'images'})}"


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
    if not name:
        assert set(re.findall(r"\bvar\.service\.(\w+)", text)) <= set(service_attributes(tf)), "undeclared attribute"
        return
    for output in module.outputs:
        assert re.search(rf"\bmodule\.{name}\.{re.escape(output)}\b", tf.root.text), f"{name}.{output} is unused"
    arguments = set(tf.calls[name]) - {"source", "depends_on", "count", "for_each", "providers"}
    assert arguments <= set(module.variables), f"{name}: unknown arguments {sorted(arguments - set(module.variables))}"
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
        kind = "object({...})" if "optional(" in kind else kind  # its attributes get their own table
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


def service_table(tf: Tree) -> str:
    rows = ["| Attribute | Variable | Type | Default |", "|---|---|---|---|"]
    for name, (kind, default) in service_attributes(tf).items():
        shown = "the code's" if default is MISSING else f"`{json.dumps(default)}`"
        rows.append(f"| `{name}` | `{name.upper()}` | `{kind}` | {shown} |")
    return "\n".join(rows)


def test_readme_lists_the_service_settings(tf: Tree) -> None:
    readme = (TERRAFORM / "README.md").read_text()
    assert readme_section(readme, "Service settings").endswith(service_table(tf)), "terraform/README.md: stale table"


@pytest.mark.parametrize(
    "name", ["", "buckets", "pubsub", "firestore", "functions", "secrets", "scheduler", "slurm_cluster", "monitoring"]
)
def test_readme_tables_match_the_variables_and_outputs(tf: Tree, name: str) -> None:
    module = tf.module(name)
    readme = (module.path / "README.md").read_text()
    where = f"{module.path.relative_to(REPO)}/README.md"
    assert readme_section(readme, "Inputs") == inputs_table(module), f"{where}: Inputs table is stale"
    assert readme_section(readme, "Outputs") == outputs_table(module), f"{where}: Outputs table is stale"

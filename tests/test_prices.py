"""The operator's price override prices the model(s) it names, never a repo file's pick of another model.

With a self-hosted price of 0 on the configured model, a repo that picks an allowed list-priced model must be
charged (and budgeted) at its list price.
"""

from __future__ import annotations

import pytest

from bot.core.settings import ConfigError, Settings, check_model, parse_repo_config
from bot.core.spend import LIST_PRICES, Price
from tests.doubles.github import GitHubDouble
from tests.doubles.mistral import MistralDouble
from tests.modelreplies import first_added
from tests.pullrequests import BASE_SHA, REPO, diff_files, open_pull, review_pr

SMALL, LARGE = "mistral-small-2603", "mistral-large-2512"
FREE = {"MISTRAL_REVIEW_PRICE_INPUT": "0", "MISTRAL_REVIEW_PRICE_OUTPUT": "0"}


def _repo_picks(model: str, env: dict[str, str]) -> Settings:
    """The settings a review runs with when the repo file asks for `model` (as the PR flow applies them)."""
    base = Settings.from_env(env)
    picked, _ = parse_repo_config(f'model = "{model}"\n', base)
    return check_model(picked, configured=base.model)[0]


def test_a_repo_picking_a_list_priced_model_pays_its_list_price_not_the_operators_zero() -> None:
    env = {**FREE, "MISTRAL_REVIEW_ALLOWED_MODELS": f"{SMALL},{LARGE}"}
    assert Settings.from_env(env).price == Price(0, 0)  # the configured model: the operator's price
    picked = _repo_picks(LARGE, env)
    assert picked.model == LARGE and picked.price == LIST_PRICES[LARGE]
    assert _repo_picks(SMALL, env).price == Price(0, 0)  # the configured model picked by name: still the operator's


def test_price_models_names_the_models_the_override_prices() -> None:
    env = {**FREE, "MISTRAL_REVIEW_ALLOWED_MODELS": f"{SMALL},{LARGE}", "MISTRAL_REVIEW_PRICE_MODELS": f"{SMALL},{LARGE}"}
    assert _repo_picks(LARGE, env).price == Price(0, 0)
    only_large = {**env, "MISTRAL_REVIEW_PRICE_MODELS": LARGE}
    assert Settings.from_env(only_large).price == LIST_PRICES[SMALL]  # the configured model is not named: list


def test_an_unlisted_model_must_be_named_when_price_models_is_set() -> None:
    with pytest.raises(ConfigError, match="not in MISTRAL_REVIEW_PRICE_MODELS"):
        Settings.from_env({**FREE, "MISTRAL_MODEL": "my-finetune", "MISTRAL_REVIEW_PRICE_MODELS": "other"})
    env = {**FREE, "MISTRAL_MODEL": "my-finetune", "MISTRAL_REVIEW_ALLOWED_MODELS": "my-finetune,my-other"}
    refused = _repo_picks("my-other", env)  # allowed, but no price of its own: the configured model reviews
    assert refused.model == "my-finetune" and refused.price == Price(0, 0)
    named = _repo_picks("my-other", {**env, "MISTRAL_REVIEW_PRICE_MODELS": "my-finetune,my-other"})
    assert named.model == "my-other" and named.price == Price(0, 0)


def test_existing_configurations_keep_their_price() -> None:
    assert Settings.from_env({**FREE, "MISTRAL_MODEL": "my-finetune"}).price == Price(0, 0)
    # The Action's `model` input (and `eval --model`) is the operator's choice: the override prices it.
    action = Settings.from_env(FREE).with_values({"model": "my-self-hosted"})
    assert action.price == Price(0, 0)
    assert check_model(action, configured="my-self-hosted")[0].price == Price(0, 0)


def test_pr_charges_a_repo_picked_model_at_its_list_price(gh: GitHubDouble, mistral: MistralDouble) -> None:
    gh.set_content(REPO, BASE_SHA, ".github/mistral-review.toml", f'model = "{LARGE}"\n')
    open_pull(gh, diff_files("tiny-one-line-fix.diff"))
    mistral.responder = first_added()
    code, result = review_pr(gh, mistral, **FREE, MISTRAL_REVIEW_ALLOWED_MODELS=f"{SMALL},{LARGE}")
    usage, price = result["usage"], LIST_PRICES[LARGE]
    assert code == 0 and result["model"] == LARGE and usage["cost_usd"] > 0
    assert usage["cost_usd"] == pytest.approx(
        (usage["prompt_tokens"] * price.input_per_m + usage["completion_tokens"] * price.output_per_m) / 1e6, abs=1e-6)

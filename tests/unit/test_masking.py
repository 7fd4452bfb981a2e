"""b2tui.masking: every rule with plain values, and every encoding of a registered secret."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import logging
import urllib.parse

import pytest

from b2tui.config import (
    HttpCheck,
    NotifySettings,
    PrometheusSettings,
    Secret,
    Settings,
    SmokeSettings,
)
from b2tui.masking import Masker, mask, mask_data, mask_url, register, register_settings, secrets_in

SECRET = "s3cr3t/Tok+en=="


def encodings(value: str) -> list[str]:
    """How a value may travel, built independently of the module under test."""
    raw = value.encode()
    return [
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        json.dumps(value)[1:-1],
        # PHP's json_encode and Go's older encoders write "/" as "\/".
        "".join("\\/" if c == "/" else c for c in value),
        binascii.hexlify(raw).decode(),
        binascii.hexlify(raw).decode().upper(),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ]


@pytest.mark.parametrize("form", encodings(SECRET))
def test_a_registered_secret_is_hidden_in_every_encoding(form: str) -> None:
    register(SECRET)
    out = mask(f"server said: {form} (again: {form})")
    assert form not in out
    assert out.count("***") == 2


def test_a_secret_inside_a_longer_base64_run_is_hidden_at_any_alignment() -> None:
    register(SECRET)
    for prefix in ("", "a", "ab", "abc"):
        blob = base64.b64encode(f"{prefix}user:{SECRET}!".encode()).decode()
        assert mask(f"invalid header Basic {blob}") == "invalid header Basic ***"
        assert blob not in mask(f"x {blob} y")


def test_basic_and_bearer_credentials_are_hidden_even_when_not_registered() -> None:
    blob = base64.b64encode(b"b2tui:hunter22").decode()
    assert mask(f"invalid header Basic {blob}") == "invalid header Basic ***"
    assert mask("got Bearer abc.def-123_x") == "got Bearer ***"
    assert mask("Authorization: Basic dTpw\nnext") == "Authorization: ***\nnext"
    assert mask('{"Cookie": "sid=abc; theme=dark"}') == '{"Cookie": "***"}'
    assert mask("Set-Cookie: session=abc; Path=/") == "Set-Cookie: ***"
    assert mask("{'authorization': 'Token x'}") == "{'authorization': '***'}"


def test_prose_about_credentials_is_left_alone() -> None:
    text = "check the bearer token (env:PROM_TOKEN) or basic auth; HTTP 401 Unauthorized"
    assert mask(text) == text


def test_urls_in_text_lose_their_password_and_query_values() -> None:
    assert (
        mask("GET http://h:80/healthz?token=abc&x=1: 200 in 84 ms")
        == "GET http://h:80/healthz?token=***&x=***: 200 in 84 ms"
    )
    assert mask("see https://bob:pw@host/p.") == "see https://bob:***@host/p."
    assert mask_url("https://ghp_abc@github.com/x") == "https://***@github.com/x"
    assert mask("http://127.0.0.1:9090 is down") == "http://127.0.0.1:9090 is down"


def test_masking_is_idempotent() -> None:
    register(SECRET)
    once = mask(f"Basic {SECRET} http://u:p@h/?a=b Authorization: x {SECRET}")
    assert mask(once) == once


def test_a_text_masked_before_a_secret_was_registered_is_masked_anew_after() -> None:
    # The masker remembers what it masked (the same gate reasons come with every sample);
    # a registration must not leave a text it saw before showing the new secret.
    m = Masker()
    line = "GET https://prom.example/api returned 401 for key s3cr3t-t0ken-value"
    assert m.text(line) == line
    assert m.data({"reason": line}) == {"reason": line}
    m.add("s3cr3t-t0ken-value")
    assert "s3cr3t-t0ken-value" not in m.text(line)
    assert "s3cr3t-t0ken-value" not in json.dumps(m.data({"reason": line}))
    base64_form = base64.b64encode(b"user:s3cr3t-t0ken-value").decode()
    m.clear()
    assert m.text(base64_form) == base64_form
    m.add_basic("user", "s3cr3t-t0ken-value")
    assert m.text(base64_form) == "***"


def test_short_values_are_not_secrets() -> None:
    register("1", "abc")
    assert mask("1 abc 10") == "1 abc 10"


def test_mask_data_walks_dicts_lists_and_dataclasses() -> None:
    @dataclasses.dataclass(frozen=True)
    class Note:
        reason: str
        gates: dict[str, str]
        tags: tuple[str, ...]
        n: int = 3

    register(SECRET)
    note = Note(f"echo {SECRET}", {"g": f"[{SECRET}]"}, (SECRET, "ok"))
    masked = mask_data(note)
    assert masked == Note("echo ***", {"g": "[***]"}, ("***", "ok"))
    assert mask_data({"a": [SECRET, 1, None]}) == {"a": ["***", 1, None]}
    plain = Note("nothing", {}, ())
    assert mask_data(plain) is plain


def test_a_revealed_secret_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("B2TUI_TEST_TOKEN", "tok-from-env-9")
    assert mask("x tok-from-env-9") == "x tok-from-env-9"  # not a secret until revealed
    Secret("env:B2TUI_TEST_TOKEN").reveal()
    assert mask("x tok-from-env-9 y") == "x *** y"


def test_register_settings_finds_every_kind_of_secret(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    secret_file = tmp_path / "token"
    secret_file.write_text("file-token-77\n")
    monkeypatch.setenv("B2TUI_HOOK", "https://hooks.example/services/T1/B2/hookpath99")
    settings = Settings(
        prometheus=PrometheusSettings(
            username="b2tui",
            password=Secret("inline-pass-1"),
            headers={"X-Scope-Token": "hdr-token-5"},
        ),
        smoke=SmokeSettings(
            http=(HttpCheck(url="http://h/healthz?token=query-token-3&v=1"),),
        ),
        notify=NotifySettings(
            deployments_webhook=Secret("env:B2TUI_HOOK"),
            github_token=Secret(f"file:{secret_file}"),
        ),
    )
    register_settings(settings)
    basic = base64.b64encode(b"b2tui:inline-pass-1").decode()
    for value in (
        "inline-pass-1",
        basic,
        "hdr-token-5",
        "query-token-3",
        "hookpath99",
        "file-token-77",
    ):
        assert secrets_in(mask(f"<{value}>"), [value]) == [], value


def test_log_records_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    register(SECRET)
    caplog.set_level(logging.INFO)
    logging.getLogger("some.library").info("request with %s", SECRET)
    try:
        raise ValueError(f"boom {SECRET}")
    except ValueError:
        logging.getLogger("some.library").exception("failed")
    text = caplog.text
    assert SECRET not in text
    assert "request with ***" in text
    assert "boom ***" in text


def test_a_local_masker_does_not_touch_the_process_registry() -> None:
    local = Masker()
    local.add("only-here-123")
    assert local.text("only-here-123") == "***"
    assert mask("only-here-123") == "only-here-123"


def test_credential_keys_are_masked_whole_in_data() -> None:
    data = {"headers": {"Authorization": "tok", "Accept": "json"}, "rows": [{"token": "abc"}]}
    assert mask_data(data) == {
        "headers": {"Authorization": "***", "Accept": "json"},
        "rows": [{"token": "***"}],
    }


def test_big_clean_data_comes_back_as_is() -> None:
    register(SECRET)
    state = {"pods": [{"name": f"web-{i}", "phase": "Running"} for i in range(500)]}
    assert mask_data(state) is state
    state["pods"][7]["reason"] = f"pulled with {SECRET}"
    assert mask_data(state)["pods"][7]["reason"] == "pulled with ***"


def test_kubeconfig_credentials_are_registered(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from kubernetes import client, config

    from b2tui.adapters.kube.client import register_credentials

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: kubeTok-Qw81Er45Ty}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    register_credentials(cfg)
    assert mask("server said: invalid token kubeTok-Qw81Er45Ty") == "server said: invalid token ***"

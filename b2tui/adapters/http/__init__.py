"""HTTP and git adapters: smoke checks, readiness answers and notifications.

- :class:`~.checks.HttpChecks` implements :class:`~b2tui.ports.Checks`: HTTP smoke
  checks with retries (:mod:`.smoke`), and the automatic readiness items
  (``code_merged`` from git, :mod:`.git`; ``tests_passing``/``build_ok`` from GitHub's
  commit statuses and check runs, :mod:`.github`).
- :class:`~.notifier.WebhookNotifier` implements :class:`~b2tui.ports.Notifier`: Slack
  Block Kit messages and a generic JSON webhook (:mod:`.slack`), a Keep a Changelog
  entry (:mod:`.changelog`) and closing the GitHub issues the deployed commits fix.

Secrets (webhook URLs, tokens, query strings) never leave these modules unmasked
(:mod:`.masking`).
"""

from b2tui.adapters.http.changelog import CHANGELOG_HEADER, add_changelog_entry, changelog_line
from b2tui.adapters.http.checks import HttpChecks
from b2tui.adapters.http.git import LAST_DEPLOYED_FILE
from b2tui.adapters.http.github import issues_fixed
from b2tui.adapters.http.masking import MASK, mask_secret_text, mask_url
from b2tui.adapters.http.notifier import WebhookNotifier
from b2tui.adapters.http.slack import slack_deployed_message, slack_incident_message

__all__ = [
    "CHANGELOG_HEADER",
    "LAST_DEPLOYED_FILE",
    "MASK",
    "HttpChecks",
    "WebhookNotifier",
    "add_changelog_entry",
    "changelog_line",
    "issues_fixed",
    "mask_secret_text",
    "mask_url",
    "slack_deployed_message",
    "slack_incident_message",
]

"""mistral-review: AI code review with Mistral Small 4 (entry points: bot.cli, bot.action)."""

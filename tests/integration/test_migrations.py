"""The migrations build exactly the schema the models describe, on both databases."""


def test_models_and_migrations_agree(runner):
    # `flask db check` exits 1 when autogenerate finds any difference.
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output

"""The Pulumi program (`main: infra/` in Pulumi.yaml): components composed by __main__.py."""

"""Tooling over a policy (never on the request path): reach reasoning, lint, matrix and its
renderers, explain, route introspection and the starter policy."""

"""The pure decision core: request view, firewall, rules, identity, decision, engine, CSRF and
responses. No I/O, no pydantic, no framework (see ARCHITECTURE.md)."""

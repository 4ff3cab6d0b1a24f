"""The permission matrix as one self-contained HTML page (inline CSS, no script, no network).

Routes down the side, identities across, every cell coloured by outcome, default-deny rows
marked. Every value from the app or the policy is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Final

from .. import __version__
from .diff import Change
from .lint import describe_methods
from .matrix import Cell, Matrix, Row
from .traffic import Seen

Changes = Mapping[tuple[int, str], Change]  # (row index, identity) -> the change of that cell
Traffic = Mapping[tuple[int, str], Seen]  # (row index, identity) -> requests seen there

_CSS: Final = """
:root{--allow:#d7f5dd;--allow-ink:#115c26;--cond:#fff1bf;--cond-ink:#6b4f00;--login:#dbeafe;--login-ink:#1e3a8a;
--deny:#fde0dc;--deny-ink:#8a1c12;--hidden:#e9e3f5;--hidden-ink:#4b2a82;--mixed-ink:#333;--line:#d9dde3}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;margin:0;background:#f6f8fa}
header{padding:20px 28px 8px}
h1{font-size:20px;margin:0 0 4px}
.sub{color:#57606a;margin:0}
.sub code{background:#eaeef2;padding:1px 5px;border-radius:4px}
.chips{display:flex;gap:8px;flex-wrap:wrap;margin:12px 0 0}
.chip{background:#fff;border:1px solid var(--line);border-radius:999px;padding:3px 12px;font-size:13px}
.chip b{font-variant-numeric:tabular-nums}
.chip.bad{border-color:#cf222e;color:#8a1c12;background:#fff5f4}
.chip.warn{border-color:#bf8700;color:#6b4f00;background:#fffbea}
.legend{display:flex;gap:14px;flex-wrap:wrap;padding:6px 28px 14px;color:#57606a;font-size:13px}
.legend span{display:inline-flex;align-items:center;gap:6px}
.sw{width:14px;height:14px;border-radius:3px;display:inline-block;border:1px solid rgba(0,0,0,.08)}
main{padding:0 28px 28px}
table{border-collapse:separate;border-spacing:0;background:#fff;border:1px solid var(--line);border-radius:8px;
overflow:hidden;min-width:60%}
th,td{padding:7px 12px;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle}
thead th{background:#f0f3f6;font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#57606a;
position:sticky;top:0}
thead th.id{text-transform:none;letter-spacing:0;font-size:13px;color:#1f2328;text-align:center}
tbody tr:last-child td{border-bottom:0}
td.method{font:600 12px ui-monospace,SFMono-Regular,Menlo,monospace}
.m{display:inline-block;min-width:52px;text-align:center;padding:2px 6px;border-radius:4px;background:#eaeef2}
.m-GET{background:#ddf4ff;color:#0550ae}.m-POST{background:#dafbe1;color:#116329}
.m-PUT,.m-PATCH{background:#fff8c5;color:#7d4e00}.m-DELETE{background:#ffebe9;color:#a40e26}
td.path{white-space:nowrap}
td.path code,td.rule code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace}
td.rule{color:#57606a;font-size:13px}
td.req{font-size:13px}
td.cell{text-align:center;font-weight:600;font-size:13px;width:150px;min-width:120px}
td.allow{background:var(--allow);color:var(--allow-ink)}
td.tenant,td.permission{background:var(--cond);color:var(--cond-ink)}
td.login{background:var(--login);color:var(--login-ink)}
td.deny{background:var(--deny);color:var(--deny-ink)}
td.hidden{background:var(--hidden);color:var(--hidden-ink)}
td.mixed{background:repeating-linear-gradient(135deg,#fff,#fff 6px,#f1f1f1 6px,#f1f1f1 12px);color:var(--mixed-ink)}
td.cell small{display:block;font-weight:400;font-size:11px;opacity:.8}
td.report{outline:2px dashed rgba(0,0,0,.25);outline-offset:-4px}
tr.dd td:first-child{box-shadow:inset 4px 0 0 #cf222e}
tr.dd td.path,tr.dd td.rule,tr.dd td.req,tr.dd td.method{background:#fff5f4}
.badge{display:inline-block;margin-left:8px;padding:1px 7px;border-radius:999px;font-size:11px;font-weight:700;
background:#cf222e;color:#fff;letter-spacing:.03em}
section.unused{margin-top:18px}
section.unused h2{font-size:15px;margin:0 0 6px}
section.unused li code{background:#eaeef2;padding:1px 5px;border-radius:4px}
td.widen{box-shadow:inset 0 0 0 3px #cf222e}td.narrow{box-shadow:inset 0 0 0 3px #1a7f37}
td.cell s{font-weight:400;opacity:.7}
td.cell small.seen{color:#57606a}td.cell small.seen.bad{color:#a40e26;font-weight:700}
footer{color:#8c959f;font-size:12px;padding:0 28px 24px}
"""

_LEGEND: Final = (
    ("allow", "var(--allow)", "allowed: the app answers"),
    ("cond", "var(--cond)", "allowed only with the tenant / permission"),
    ("login", "var(--login)", "401: sign in first (browsers are redirected)"),
    ("deny", "var(--deny)", "403: refused"),
    ("hidden", "var(--hidden)", "404: refused and hidden"),
)

_WORDS: Final = {"allow": "allow", "tenant": "own tenant", "permission": "with permission", "login": "401 login",
                 "deny": "403 deny", "hidden": "404 hidden", "mixed": "mixed"}


def _cell(cell: Cell, change: Change | None = None, seen: Seen | None = None) -> str:
    classes = ["cell", cell.label] + (["report"] if cell.report_only else [])
    note = cell.note + (" (report mode: logged, not enforced)" if cell.report_only else "")
    small = f"<small>{escape(cell.note)}</small>" if cell.label in ("mixed", "tenant", "permission") else ""
    word = escape(_WORDS.get(cell.label, cell.label))
    if change is not None:
        classes.append("widen" if change.widens else "narrow")
        before = escape(_WORDS.get(change.before.label, change.before.label))
        word = f'<s title="before">{before}</s> &rarr; {word}'
        note = f"before: {change.before.text()}; after: {change.after.text()}. {note}"
    if seen is not None:
        refused = f", {seen.refused} would be refused" if seen.refused else ""
        small += f'<small class="seen{" bad" if seen.refused else ""}">{seen.requests} seen{refused}</small>'
    return (f'<td class="{" ".join(classes)}" title="{escape(note)}" data-label="{cell.label}">'
            f"{word}{small}</td>")


def _row(matrix: Matrix, row: Row, index: int = 0, changes: Changes | None = None,
         traffic: Traffic | None = None) -> str:
    method = "WS" if row.route.kind == "websocket" else row.method
    badge = '<span class="badge">DEFAULT DENY</span>' if row.default_deny else ""
    rules = "<br>".join(
        f"#{p.rule.position} <code>{escape(p.rule.pattern)}</code>" if p.rule else "<b>no rule</b>"
        for p in row.pieces
    ) or "-"
    endpoint = escape(row.route.endpoint)
    cells = "".join(_cell(row.cells[name], (changes or {}).get((index, name)), (traffic or {}).get((index, name)))
                    for name in matrix.identities)
    return (
        f'<tr class="{"dd" if row.default_deny else "ok"}">'
        f'<td class="method"><span class="m m-{escape(method)}">{escape(method)}</span></td>'
        f'<td class="path" title="{endpoint}"><code>{escape(row.route.path)}</code>{badge}</td>'
        f'<td class="rule">{rules}</td><td class="req">{escape(row.requires)}</td>{cells}</tr>'
    )


def render_diff_html(changes: Sequence[Change], after: Matrix, old: str, new: str) -> str:
    """The matrix under the new policy, each changed cell showing before -> after, widening
    changes outlined in red."""
    keys = {(row.route.path, "WS" if row.route.kind == "websocket" else row.method): i
            for i, row in enumerate(after.rows)}
    marked = {(keys[(c.path, c.method)], c.identity): c for c in changes if (c.path, c.method) in keys}
    return render_html(after, changes=marked, title=f"Access changes: {old} -> {new}")


def render_html(matrix: Matrix, *, changes: Changes | None = None, traffic: Traffic | None = None,
                title: str = "Permission matrix") -> str:
    """The whole page; ``changes`` marks changed cells (the diff view), ``traffic`` adds the
    requests seen and would-be refusals per cell (``routes --log``)."""
    head = "".join(f'<th class="id" scope="col">{escape(name)}</th>' for name in matrix.identities)
    rows = "\n".join(_row(matrix, row, i, changes, traffic) for i, row in enumerate(matrix.rows))
    dd = len(matrix.default_deny_rows)
    chips = [
        f'<span class="chip"><b>{len(matrix.rows)}</b> routes</span>',
        f'<span class="chip{" bad" if dd else ""}"><b>{dd}</b> default deny</span>',
        f'<span class="chip{" warn" if matrix.unused_rules else ""}"><b>{len(matrix.unused_rules)}</b> '
        "rules match no route</span>",
    ]
    if changes is not None:
        widen = sum(c.widens for c in changes.values())
        chips.append(f'<span class="chip{" bad" if widen else ""}"><b>{len(changes)}</b> cells change, '
                     f"<b>{widen}</b> widen access</span>")
    if traffic is not None:
        seen = sum(t.requests for t in traffic.values())
        refused = sum(t.refused for t in traffic.values())
        chips.append(f'<span class="chip"><b>{seen}</b> logged requests</span>')
        chips.append(f'<span class="chip{" bad" if refused else ""}"><b>{refused}</b> would be refused '
                     "when enforced</span>")
    if matrix.mode == "report":
        chips.append('<span class="chip warn">mode = report: refusals logged, not enforced</span>')
    legend = "".join(f'<span><i class="sw" style="background:{color}"></i>{escape(text)}</span>'
                     for _, color, text in _LEGEND)
    unused = ""
    if matrix.unused_rules:
        items = "".join(f"<li>#{r.position} <code>{escape(r.pattern)}</code> ({escape(describe_methods(r))})</li>"
                        for r in matrix.unused_rules)
        unused = f'<section class="unused"><h2>Rules that match no route</h2><ul>{items}</ul></section>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{escape(title)}: {escape(matrix.app)}</title>
<style>{_CSS}</style></head>
<body>
<header><h1>{escape(title)}</h1>
<p class="sub">App <code>{escape(matrix.app)}</code> under policy <code>{escape(matrix.policy)}</code></p>
<div class="chips">{"".join(chips)}</div></header>
<div class="legend">{legend}</div>
<main>
<table id="matrix"><thead><tr><th scope="col">Method</th><th scope="col">Route</th><th scope="col">Rule</th>
<th scope="col">Requires</th>{head}</tr></thead>
<tbody>
{rows}
</tbody></table>
{unused}
</main>
<footer>Generated by routeguard {escape(__version__)} from the app's routes and the policy's rules; each cell
is the engine's decision for that identity. Anything no rule matches is refused.</footer>
</body></html>
"""

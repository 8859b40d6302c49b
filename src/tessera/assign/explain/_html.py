"""A self-contained HTML page that steps through a trace's pictures."""

from __future__ import annotations

import hashlib
from html import escape
from typing import TYPE_CHECKING

from tessera.assign.explain._steps import fmt
from tessera.assign.explain._svg import step_svg

if TYPE_CHECKING:
    from tessera.assign.explain._trace import Trace

__all__ = ["render_html"]

_CSS = """
.tx{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d232a;max-width:980px}
.tx h2{margin:.2em 0}.tx .summary{color:#57606a;margin:.2em 0 .8em}
.tx .controls{display:flex;gap:.6em;align-items:center;margin:.4em 0}
.tx button{font:inherit;padding:.3em .9em;border:1px solid #8c959f;border-radius:6px;
background:#f6f8fa;cursor:pointer}.tx button:disabled{opacity:.4;cursor:default}
.tx .counter{min-width:8em;text-align:center;font-weight:600}
.tx .layout{display:flex;gap:1em;align-items:flex-start}
.tx ol{margin:0;padding-left:1.6em;font-size:.85em;min-width:15em;max-width:19em}
.tx li{cursor:pointer;padding:.1em .2em;border-radius:4px}.tx li.active{background:#fff1c1;
font-weight:600}.tx figure{margin:0}.tx figure[hidden]{display:none}
.tx svg{max-width:100%;height:auto;border:1px solid #d0d7de;
border-radius:6px}.tx .hint{color:#57606a;font-size:.8em}
"""

_JS = """
(function(){
var root=document.getElementById("%(id)s");
var steps=root.querySelectorAll("figure.step");
var items=root.querySelectorAll("ol.steps-nav li");
var counter=root.querySelector(".counter");
var prev=root.querySelector("button.prev");
var next=root.querySelector("button.next");
var current=0;
function show(k){
if(k<0||k>=steps.length){return;}
current=k;
for(var i=0;i<steps.length;i++){
steps[i].hidden=(i!==k);
if(items[i]){items[i].className=(i===k)?"active":"";}
}
counter.textContent="Step "+(k+1)+" of "+steps.length;
prev.disabled=(k===0);
next.disabled=(k===steps.length-1);
}
prev.addEventListener("click",function(){show(current-1);});
next.addEventListener("click",function(){show(current+1);});
for(var i=0;i<items.length;i++){
items[i].addEventListener("click",(function(k){return function(){show(k);};})(i));
}
var keys=%(keys)s;
keys.addEventListener("keydown",function(e){
var t=e.target&&e.target.tagName;
if(t==="INPUT"||t==="TEXTAREA"||t==="SELECT"){return;}
if(e.key==="ArrowRight"){show(current+1);e.preventDefault();}
else if(e.key==="ArrowLeft"){show(current-1);e.preventDefault();}
});
show(0);
})();
"""


def _id(trace: Trace) -> str:
    digest = hashlib.sha1(trace.cost.tobytes() + repr(trace.cost.shape).encode())
    digest.update(f"{trace.method}{trace.maximize}{trace.row_names}{trace.col_names}".encode())
    return f"tx-{trace.method}-{digest.hexdigest()[:10]}"


def render_html(trace: Trace, *, standalone: bool = True) -> str:
    """The stepping page (``standalone``) or an embeddable ``<div>`` fragment."""
    ident = _id(trace)
    goal = "maximise" if trace.maximize else "minimise"
    heading = f"Hungarian method, {trace.method} method ({goal})"
    pairs = ", ".join(
        f"{trace.row_names[i]} → {trace.col_names[j]}"
        for i, j in zip(trace.rows.tolist(), trace.cols.tolist(), strict=True)
    )
    count = len(trace.steps)
    figures = "\n".join(
        f'<figure class="step" data-step="{k}" data-kind="{escape(step.kind)}">'
        f"{step_svg(trace, k)}</figure>"
        for k, step in enumerate(trace.steps)
    )
    nav = "".join(
        f'<li data-step="{k}">{escape(step.title)}</li>' for k, step in enumerate(trace.steps)
    )
    hint = "Use the buttons, click a step, or press ← and →" + (
        "" if standalone else " (click the pictures first)"
    )
    body = (
        f'<div class="tx" id="{ident}" tabindex="0" data-steps="{count}">'
        f"<h2>{escape(heading)}</h2>"
        f'<p class="summary">Result: {escape(pairs)}; total {escape(fmt(trace.total_cost))}.</p>'
        '<div class="controls"><button type="button" class="prev">◀ Prev</button>'
        f'<span class="counter">Step 1 of {count}</span>'
        '<button type="button" class="next">Next ▶</button>'
        f'<span class="hint">{escape(hint)}.</span></div>'
        f'<div class="layout"><div class="stage">{figures}</div>'
        f'<ol class="steps-nav">{nav}</ol></div></div>'
    )
    keys = "document" if standalone else "root"
    script = "<script>" + _JS % {"id": ident, "keys": keys} + "</script>"
    if not standalone:
        return f"<style>{_CSS}</style>{body}{script}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(heading)}</title><style>{_CSS}</style></head>"
        f"<body>{body}{script}</body></html>\n"
    )

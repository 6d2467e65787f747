"""The report's own style sheet and script, inlined into every page (no file or request besides the page).

The page's Content-Security-Policy allows exactly these two by their SHA-256,
so nothing else can style or run in it, even if a string ever escaped its escaping.
"""

from __future__ import annotations

import base64
import hashlib

CSS = """
:root{--fail:#b3261e;--inc:#9a6700;--pass:#1a7f37;--na:#6e7781;--line:#d0d7de;--muted:#57606a}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#fff}
header{padding:18px 24px;border-bottom:1px solid var(--line);background:#f6f8fa}
main{padding:0 24px 40px}
h1{font-size:20px;margin:0 0 6px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0;width:100%}
th,td{border:1px solid var(--line);padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
pre{white-space:pre-wrap;word-break:break-all;margin:2px 0;background:#f6f8fa;padding:4px 6px;border-radius:4px}
mark{background:#ffd8d3;color:#1f2328;font-weight:700;padding:0 1px}
.badge{display:inline-block;min-width:7.5em;text-align:center;padding:1px 8px;border-radius:10px;color:#fff;font-weight:700;font-size:12px}
.r-FAIL{background:var(--fail)}.r-INCONCLUSIVE{background:var(--inc)}.r-PASS{background:var(--pass)}
.r-NOT_APPLICABLE{background:var(--na)}.r-none{background:#8c959f}
.overall{font-size:22px;padding:4px 16px;border-radius:14px}
.muted{color:var(--muted)}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0}
.facts dt{font-weight:600;color:var(--muted)}.facts dd{margin:0}
details{margin:6px 0;border:1px solid var(--line);border-radius:6px;padding:4px 10px}
summary{cursor:pointer;font-weight:600}
.finding{border-top:1px solid var(--line);padding:6px 0}
.finding:first-of-type{border-top:0}
.note{background:#fff8c5;border:1px solid #d4a72c;padding:6px 10px;border-radius:6px;margin:10px 0}
.timeline{max-width:100%;height:auto;font:11px system-ui,sans-serif}
.timeline rect.flow{fill:#0969da}
.timeline path.fail{fill:var(--fail);stroke:#fff;stroke-width:1}
.timeline path.note{fill:var(--inc);stroke:#fff;stroke-width:1}
.timeline text.phase{font-weight:600;fill:#1f2328}
.timeline text.row,.timeline text.tick{fill:var(--muted)}
.timeline line.grid{stroke:#eaeef2}.timeline line.axis{stroke:#8c959f}
.legend span{margin-right:14px}
.controls{display:flex;gap:12px;align-items:center;margin:8px 0}
.controls input[type=search]{width:24em;padding:3px 6px}
.matrix td.cell{text-align:center;color:#fff;font-weight:700;font-size:12px}
.matrix td.FAIL{background:var(--fail)}.matrix td.INCONCLUSIVE{background:var(--inc)}
.matrix td.PASS{background:var(--pass)}.matrix td.NOT_APPLICABLE{background:var(--na)}
.matrix td.none{background:#eaeef2;color:var(--muted)}
"""

JS = """
(function(){
"use strict";
var data=document.getElementById("flow-data");
var body=document.getElementById("flow-rows");
document.documentElement.setAttribute("data-ready","1");
if(!data||!body){return;}
var cols=JSON.parse(data.textContent);
var rows=cols.rows, page=500, shown=page;
var search=document.getElementById("flow-filter");
var judged=document.getElementById("flow-judged");
var count=document.getElementById("flow-count");
var more=document.getElementById("flow-more");
var hay=rows.map(function(r){return r.join(" ").toLowerCase();});
function matches(){
  var q=search.value.toLowerCase().trim(), only=judged.checked, out=[];
  for(var i=0;i<rows.length;i++){
    if(only&&rows[i][cols.judged]!=="yes"){continue;}
    if(q&&hay[i].indexOf(q)<0){continue;}
    out.push(i);
  }
  return out;
}
function draw(){
  var hits=matches(), frag=document.createDocumentFragment();
  for(var k=0;k<hits.length&&k<shown;k++){
    var tr=document.createElement("tr"), r=rows[hits[k]];
    for(var c=0;c<r.length;c++){
      var td=document.createElement("td");
      td.textContent=r[c];
      if(cols.numeric.indexOf(c)>=0){td.className="num";}
      tr.appendChild(td);
    }
    frag.appendChild(tr);
  }
  while(body.firstChild){body.removeChild(body.firstChild);}
  body.appendChild(frag);
  count.textContent=Math.min(shown,hits.length)+" of "+hits.length+" matching flows ("+rows.length+" in all)";
  more.hidden=hits.length<=shown;
}
search.addEventListener("input",function(){shown=page;draw();});
judged.addEventListener("change",function(){shown=page;draw();});
more.addEventListener("click",function(){shown+=page;draw();});
draw();
})();
"""


def _digest(source: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii")


CSP = (
    f"default-src 'none'; style-src '{_digest(CSS)}'; script-src '{_digest(JS)}'; "
    "img-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'"
)
"""Only this page's own style sheet and script, by hash; no requests of any kind."""

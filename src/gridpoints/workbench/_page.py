"""The workbench's one page: HTML, CSS and a little JavaScript in one string, no build step, nothing fetched
from elsewhere (it works offline). Every visible text is in :data:`TEXT`, in Chinese and English."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

Lang = Literal["zh", "en"]

TEXT: Mapping[str, Mapping[str, str]] = {
    "zh": {
        "title": "积分细则工作台",
        "subtitle": "编辑细则草稿，实时检查；用模拟社区或上传的事件回放，与当前版本对比。",
        "editor": "细则草稿（YAML）",
        "current": "当前版本",
        "diagnostics": "检查结果",
        "no_problems": "没有发现问题",
        "checking": "检查中…",
        "line": "第 {line} 行",
        "suggestion": "（建议：'{suggestion}'）",
        "colon": "：",
        "error": "错误",
        "warning": "提醒",
        "data": "事件数据",
        "preset": "模拟社区",
        "households": "户数",
        "months": "月数",
        "seed": "随机种子",
        "upload": "上传事件文件（JSON Lines）",
        "use_preset": "用模拟社区",
        "use_upload": "用上传的文件",
        "uploaded": "已上传 {name}：{lines} 行",
        "run": "回放并对比",
        "save": "保存草稿",
        "download": "下载 YAML",
        "saved": "已保存到 {path}",
        "fix_first": "草稿有错误，请先修正再回放",
        "phase_queued": "排队中",
        "phase_synth": "生成模拟事件",
        "phase_replay": "回放事件（当前版本与草稿）",
        "phase_done": "完成",
        "phase_failed": "失败",
        "events": "{events} 条事件",
        "headline": "居民 {residents} 人：{gained} 人增加、{lost} 人减少、{unchanged} 人不变；积分合计变化 {total}；"
                    "基尼系数 {gini_old} → {gini_new}；发放积分 {issued_old} → {issued_new}",
        "report": "对比报告",
        "report_draft": "草稿的完整报告",
        "residents": "逐个居民的变化",
        "subject": "居民",
        "grid": "网格",
        "old": "当前版本",
        "new": "草稿",
        "delta": "变化",
        "order": "排序",
        "order_delta": "减少最多在前",
        "order_gain": "增加最多在前",
        "order_subject": "按居民编号",
        "filter_grid": "只看网格",
        "all_grids": "全部网格",
        "shown": "第 {first}–{last} 人，共 {total} 人（{changed} 人有变化）",
        "previous": "上一页",
        "next": "下一页",
        "language": "English",
        "code_invalid": "无效",
        "code_duplicate-id": "编号重复",
        "code_unknown-rule": "未知规则",
        "code_unknown-category": "未知类别",
        "code_unhandled-event": "无规则处理的事件",
        "code_undeclared-event": "未声明的事件类型（疑似拼写错误）",
        "code_unreachable-rule": "永远不会命中的规则",
        "code_table-gap": "分值表缺项",
        "code_table-open": "分值表未覆盖全部取值",
        "code_cap-never-binds": "从不起作用的上限",
        "code_campaign-never-applies": "从不生效的活动",
        "code_campaign-overlap": "活动重叠",
        "code_streak-does-nothing": "无奖励的连续打卡",
        "code_honour-never-earned": "无法获得的荣誉",
        "code_honour-title-differs": "荣誉与称号不一致",
        "code_team-bonus-each": "团队每人全额奖励",
        "code_open-entitlement": "人人可领的免费权益",
        "code_unverified-repair": "无人核实的积分修复",
        "code_notice-never-sent": "不会产生的通知",
    },
    "en": {
        "title": "Ruleset workbench",
        "subtitle": "Edit a draft ruleset with live checks; replay a synthetic community or an uploaded log and "
                    "compare with the current version.",
        "editor": "Draft ruleset (YAML)",
        "current": "Current version",
        "diagnostics": "Checks",
        "no_problems": "No problems found",
        "checking": "Checking…",
        "line": "line {line}",
        "suggestion": " (did you mean '{suggestion}'?)",
        "colon": ": ",
        "error": "error",
        "warning": "warning",
        "data": "Events",
        "preset": "Synthetic community",
        "households": "Households",
        "months": "Months",
        "seed": "Seed",
        "upload": "Upload an events file (JSON Lines)",
        "use_preset": "Use the synthetic community",
        "use_upload": "Use the uploaded file",
        "uploaded": "Uploaded {name}: {lines} lines",
        "run": "Replay and compare",
        "save": "Save draft",
        "download": "Download YAML",
        "saved": "Saved to {path}",
        "fix_first": "The draft has errors: fix them before replaying",
        "phase_queued": "Queued",
        "phase_synth": "Generating synthetic events",
        "phase_replay": "Replaying the events (current version and draft)",
        "phase_done": "Done",
        "phase_failed": "Failed",
        "events": "{events} events",
        "headline": "{residents} residents: {gained} gain, {lost} lose, {unchanged} unchanged; total change "
                    "{total} points; Gini {gini_old} → {gini_new}; points issued {issued_old} → {issued_new}",
        "report": "Comparison report",
        "report_draft": "The draft's full report",
        "residents": "Change per resident",
        "subject": "Resident",
        "grid": "Grid",
        "old": "Current",
        "new": "Draft",
        "delta": "Change",
        "order": "Order",
        "order_delta": "Largest loss first",
        "order_gain": "Largest gain first",
        "order_subject": "By resident id",
        "filter_grid": "Grid",
        "all_grids": "All grids",
        "shown": "Residents {first}–{last} of {total} ({changed} changed)",
        "previous": "Previous",
        "next": "Next",
        "language": "中文",
        "code_invalid": "invalid",
        "code_duplicate-id": "duplicate id",
        "code_unknown-rule": "unknown rule",
        "code_unknown-category": "unknown category",
        "code_unhandled-event": "unhandled event",
        "code_undeclared-event": "undeclared event type (a typo?)",
        "code_unreachable-rule": "unreachable rule",
        "code_table-gap": "table gap",
        "code_table-open": "open table",
        "code_cap-never-binds": "cap never binds",
        "code_campaign-never-applies": "campaign never applies",
        "code_campaign-overlap": "overlapping campaigns",
        "code_streak-does-nothing": "streak does nothing",
        "code_honour-never-earned": "honour never earned",
        "code_honour-title-differs": "honour differs from title",
        "code_team-bonus-each": "whole bonus to each member",
        "code_open-entitlement": "entitlement open to all",
        "code_unverified-repair": "repair nobody attests",
        "code_notice-never-sent": "notice never sent",
    },
}

_CSS = """
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif; margin: 0; color: #1f2933;
       background: #f5f7fa; }
header { background: #1d4e89; color: #fff; padding: 12px 20px; display: flex; align-items: baseline; gap: 16px; }
header h1 { font-size: 20px; margin: 0; } header p { margin: 0; opacity: .85; flex: 1; }
header a { color: #fff; }
main { display: grid; grid-template-columns: minmax(420px, 1fr) minmax(420px, 1fr); gap: 16px; padding: 16px; }
section { background: #fff; border: 1px solid #d9e2ec; border-radius: 6px; padding: 12px; }
h2 { font-size: 16px; margin: 0 0 8px; }
.editor { display: flex; border: 1px solid #bcccdc; height: 460px; font: 13px/18px monospace; }
#gutter { margin: 0; padding: 4px 6px; text-align: right; color: #829ab1; background: #f0f4f8; overflow: hidden;
          user-select: none; min-width: 44px; white-space: pre; }
#gutter span { display: block; } #gutter span.error { background: #f8d7da; color: #9b1c1c; font-weight: bold; }
#gutter span.warning { background: #fff3cd; color: #8a6d00; }
#source { flex: 1; border: 0; padding: 4px 8px; font: inherit; resize: none; white-space: pre; overflow: auto;
          outline: none; tab-size: 2; }
#diagnostics { list-style: none; padding: 0; margin: 8px 0 0; max-height: 180px; overflow: auto; font-size: 13px; }
#diagnostics li { padding: 3px 6px; border-left: 4px solid #829ab1; margin-bottom: 3px; cursor: pointer; }
#diagnostics li.error { border-color: #c53030; background: #fff5f5; }
#diagnostics li.warning { border-color: #d69e2e; background: #fffaf0; }
#diagnostics li.ok { border-color: #2f855a; background: #f0fff4; cursor: default; }
.row { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 6px 0; }
label { font-size: 13px; } input[type=number] { width: 80px; }
button { background: #1d4e89; color: #fff; border: 0; border-radius: 4px; padding: 6px 14px; cursor: pointer; }
button:disabled { background: #9fb3c8; cursor: default; } button.secondary { background: #486581; }
progress { width: 100%; height: 14px; }
#status { font-size: 13px; min-height: 18px; } #headline { font-size: 14px; margin: 6px 0; }
iframe { width: 100%; height: 900px; border: 1px solid #d9e2ec; background: #fff; }
.wide { grid-column: 1 / -1; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid #e4e7eb; padding: 3px 6px; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.up { color: #2f855a; } td.down { color: #c53030; }
.tabs button { background: #d9e2ec; color: #1f2933; } .tabs button.active { background: #1d4e89; color: #fff; }
"""

_SCRIPT = r"""
const T = JSON.parse(document.getElementById('texts').textContent);
const LANG = document.documentElement.dataset.lang;
const source = document.getElementById('source'), gutter = document.getElementById('gutter');
const list = document.getElementById('diagnostics');
let lintTimer = null, lintSeq = 0, lastErrors = 0, upload = null, runId = null, page = 0;
const fmt = (key, values) => T[key].replace(/\{(\w+)\}/g, (_, k) => values[k]);
const num = (v) => typeof v === 'number' ? v.toLocaleString(LANG === 'zh' ? 'zh-CN' : 'en',
  {maximumFractionDigits: 3}) : v;

function drawGutter(marks) {
  const lines = source.value.split('\n').length;
  const parts = [];
  for (let i = 1; i <= lines; i++) {
    const mark = marks[i] ? ` class="${marks[i]}"` : '';
    parts.push(`<span data-line="${i}"${mark}>${i}</span>`);
  }
  gutter.innerHTML = parts.join('');
  gutter.scrollTop = source.scrollTop;
}

function goTo(line) {
  const lines = source.value.split('\n');
  let at = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) at += lines[i].length + 1;
  source.focus();
  source.setSelectionRange(at, at + (lines[line - 1] || '').length);
  source.scrollTop = Math.max(0, (line - 5) * 18);
}

async function lint() {
  const seq = ++lintSeq;
  list.innerHTML = `<li>${T.checking}</li>`;
  const response = await fetch('api/lint', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                            body: JSON.stringify({text: source.value, lang: LANG})});
  const found = await response.json();
  if (seq !== lintSeq) return;
  const marks = {};
  list.innerHTML = '';
  lastErrors = 0;
  for (const d of found.diagnostics) {
    if (d.severity === 'error') lastErrors++;
    if (d.line && marks[d.line] !== 'error') marks[d.line] = d.severity;
    const li = document.createElement('li');
    li.className = d.severity;
    li.dataset.line = d.line || '';
    li.dataset.code = d.code;
    const where = d.line ? fmt('line', {line: d.line}) : '';
    const code = T['code_' + d.code] || d.code;
    li.textContent = `${T[d.severity]} · ${where} · ${code}${T.colon}${d.message}` +
      (d.suggestion ? fmt('suggestion', {suggestion: d.suggestion}) : '');
    if (d.line) li.addEventListener('click', () => goTo(d.line));
    list.appendChild(li);
  }
  if (!found.diagnostics.length) list.innerHTML = `<li class="ok">${T.no_problems}</li>`;
  drawGutter(marks);
}

source.addEventListener('input', () => { drawGutter({}); clearTimeout(lintTimer); lintTimer = setTimeout(lint, 300); });
source.addEventListener('scroll', () => { gutter.scrollTop = source.scrollTop; });
source.addEventListener('keydown', (e) => {
  if (e.key === 'Tab') { e.preventDefault(); document.execCommand('insertText', false, '  '); }
});

document.getElementById('file').addEventListener('change', async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  const response = await fetch('api/events', {method: 'POST', headers: {'X-Filename': encodeURIComponent(file.name)},
                                              body: await file.text()});
  const found = await response.json();
  const note = document.getElementById('upload-note');
  if (!response.ok) { note.textContent = found.detail; upload = null; return; }
  upload = found;
  note.textContent = fmt('uploaded', found);
  document.getElementById('use-upload').checked = true;
});

function sourceChoice() {
  if (document.getElementById('use-upload').checked && upload) return {upload: upload.id};
  return {preset: document.getElementById('preset').value,
          households: +document.getElementById('households').value,
          months: +document.getElementById('months').value, seed: +document.getElementById('seed').value};
}

document.getElementById('run').addEventListener('click', async () => {
  const status = document.getElementById('status');
  if (lastErrors) { status.textContent = T.fix_first; return; }
  const response = await fetch('api/runs', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                            body: JSON.stringify({text: source.value, source: sourceChoice(),
                                                                  lang: LANG})});
  const found = await response.json();
  if (!response.ok) { status.textContent = typeof found.detail === 'string' ? found.detail : T.fix_first; return; }
  runId = found.id;
  document.getElementById('run').disabled = true;
  document.getElementById('results').hidden = true;
  poll();
});

async function poll() {
  const response = await fetch(`api/runs/${runId}`);
  const run = await response.json();
  const bar = document.getElementById('progress'), status = document.getElementById('status');
  bar.value = run.phase === 'done' ? 1 : run.progress;
  const events = run.events ? ` · ${fmt('events', {events: num(run.events)})}` : '';
  status.textContent = T['phase_' + run.phase] + events + (run.error ? ` · ${run.error}` : '');
  status.dataset.phase = run.phase;
  if (run.phase === 'done') { document.getElementById('run').disabled = false; showResults(run); return; }
  if (run.phase === 'failed') { document.getElementById('run').disabled = false; return; }
  setTimeout(poll, 250);
}

function showResults(run) {
  const values = {};
  for (const [k, v] of Object.entries(run.headline)) values[k] = num(v);
  document.getElementById('headline').textContent = fmt('headline', values);
  document.getElementById('results').hidden = false;
  showReport('compare');
  page = 0;
  loadResidents();
}

function showReport(which) {
  document.getElementById('tab-compare').classList.toggle('active', which === 'compare');
  document.getElementById('tab-draft').classList.toggle('active', which === 'draft');
  const path = which === 'compare' ? 'report' : 'draft-report';
  document.getElementById('report').src = `runs/${runId}/${path}?lang=${LANG}`;
}
document.getElementById('tab-compare').addEventListener('click', () => showReport('compare'));
document.getElementById('tab-draft').addEventListener('click', () => showReport('draft'));

async function loadResidents() {
  const order = document.getElementById('order').value, grid = document.getElementById('grid-filter').value;
  const response = await fetch(`api/runs/${runId}/residents?order=${order}&offset=${page * 50}&limit=50` +
                               (grid ? `&grid=${encodeURIComponent(grid)}` : ''));
  const found = await response.json();
  const select = document.getElementById('grid-filter');
  if (select.options.length === 1) {
    for (const g of found.grids) {
      const o = document.createElement('option'); o.value = g; o.textContent = g; select.appendChild(o);
    }
  }
  const body = document.querySelector('#resident-table tbody');
  body.innerHTML = '';
  for (const row of found.rows) {
    const tr = document.createElement('tr');
    const cls = row.delta > 0 ? 'num up' : row.delta < 0 ? 'num down' : 'num';
    for (const [value, c] of [[row.subject, ''], [row.grid, ''], [num(row.old), 'num'], [num(row.new), 'num'],
                              [(row.delta > 0 ? '+' : '') + num(row.delta), cls]]) {
      const td = document.createElement('td'); td.textContent = value; if (c) td.className = c; tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  document.getElementById('shown').textContent = fmt('shown', {first: found.total ? found.offset + 1 : 0,
    last: found.offset + found.rows.length, total: num(found.total), changed: num(found.changed)});
  document.getElementById('prev').disabled = page === 0;
  document.getElementById('next').disabled = found.offset + found.rows.length >= found.total;
}
document.getElementById('order').addEventListener('change', () => { page = 0; loadResidents(); });
document.getElementById('grid-filter').addEventListener('change', () => { page = 0; loadResidents(); });
document.getElementById('prev').addEventListener('click', () => { page = Math.max(0, page - 1); loadResidents(); });
document.getElementById('next').addEventListener('click', () => { page += 1; loadResidents(); });

document.getElementById('save').addEventListener('click', async () => {
  const response = await fetch('api/save', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                            body: JSON.stringify({text: source.value})});
  const found = await response.json();
  document.getElementById('save-note').textContent = response.ok ? fmt('saved', found) : found.detail;
});
document.getElementById('download').addEventListener('click', () => {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([source.value], {type: 'application/yaml'}));
  link.download = document.body.dataset.draftName;
  link.click();
});

// Switching the language reloads the page: the draft goes along (this tab only), not the file's text.
const KEPT = 'gridpoints-workbench-draft';
document.getElementById('language').addEventListener('click', () => sessionStorage.setItem(KEPT, source.value));
if (sessionStorage.getItem(KEPT) !== null) {
  source.value = sessionStorage.getItem(KEPT);
  sessionStorage.removeItem(KEPT);
}
drawGutter({});
lint();
"""


def render_page(*, lang: Lang, text: str, current: str, presets: Sequence[str], preset: str, draft_name: str,
                households: int) -> str:
    """The page, with the draft's text in the editor and the texts of ``lang`` for the script."""
    t = TEXT[lang]
    other = "en" if lang == "zh" else "zh"
    options = "".join(f'<option value="{html.escape(p)}"{" selected" if p == preset else ""}>{html.escape(p)}</option>'
                      for p in presets)
    texts = json.dumps(dict(t), ensure_ascii=False).replace("</", "<\\/")
    e = html.escape
    return f"""<!DOCTYPE html>
<html lang="{"zh-CN" if lang == "zh" else "en"}" data-lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{e(t["title"])}</title>
<style>{_CSS}</style></head>
<body data-draft-name="{e(draft_name)}">
<header><h1>{e(t["title"])}</h1><p>{e(t["subtitle"])}</p>
<a href="?lang={other}" id="language">{e(t["language"])}</a></header>
<main>
<section><h2>{e(t["editor"])} <small>· {e(t["current"])}: {e(current)}</small></h2>
<div class="editor"><div id="gutter"></div>
<textarea id="source" spellcheck="false" wrap="off">{e(text)}</textarea></div>
<div class="row"><button id="save" class="secondary">{e(t["save"])}</button>
<button id="download" class="secondary">{e(t["download"])}</button><span id="save-note"></span></div>
<h2>{e(t["diagnostics"])}</h2><ul id="diagnostics"></ul></section>
<section><h2>{e(t["data"])}</h2>
<div class="row"><label><input type="radio" name="source" id="use-preset" checked> {e(t["use_preset"])}</label>
<label>{e(t["preset"])} <select id="preset">{options}</select></label>
<label>{e(t["households"])} <input type="number" id="households" min="1" max="20000" value="{households}"></label>
<label>{e(t["months"])} <input type="number" id="months" min="1" max="12" value="1"></label>
<label>{e(t["seed"])} <input type="number" id="seed" value="1"></label></div>
<div class="row"><label><input type="radio" name="source" id="use-upload"> {e(t["use_upload"])}</label>
<label>{e(t["upload"])} <input type="file" id="file" accept=".jsonl,.json,.txt"></label>
<span id="upload-note"></span></div>
<div class="row"><button id="run">{e(t["run"])}</button></div>
<progress id="progress" max="1" value="0"></progress><div id="status"></div>
<div id="headline"></div></section>
<section class="wide" id="results" hidden>
<div class="row tabs"><button id="tab-compare" class="active">{e(t["report"])}</button>
<button id="tab-draft">{e(t["report_draft"])}</button></div>
<iframe id="report" title="{e(t["report"])}"></iframe>
<h2>{e(t["residents"])}</h2>
<div class="row"><label>{e(t["order"])} <select id="order"><option value="delta">{e(t["order_delta"])}</option>
<option value="-delta">{e(t["order_gain"])}</option>
<option value="subject">{e(t["order_subject"])}</option></select></label>
<label>{e(t["filter_grid"])} <select id="grid-filter"><option value="">{e(t["all_grids"])}</option></select></label>
<span id="shown"></span>
<button id="prev" class="secondary">{e(t["previous"])}</button>
<button id="next" class="secondary">{e(t["next"])}</button></div>
<table id="resident-table"><thead><tr><th>{e(t["subject"])}</th><th>{e(t["grid"])}</th>
<th class="num">{e(t["old"])}</th>
<th class="num">{e(t["new"])}</th><th class="num">{e(t["delta"])}</th></tr></thead><tbody></tbody></table>
</section>
</main>
<script type="application/json" id="texts">{texts}</script>
<script>{_SCRIPT}</script>
</body></html>
"""


def lang_of(value: Any) -> Lang:
    """``en`` when asked for, else Chinese (the default)."""
    return "en" if value == "en" else "zh"

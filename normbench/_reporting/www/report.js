(function () {
  // the columns each filter reads, from the page (html.py writes them as JSON beside this script)
  const FILTERS = JSON.parse(document.getElementById('normbench-filters').textContent);
  const bar = document.getElementById('filters');
  const selects = {};
  // a cell's value for the filters: its first word ("numba \u2020" and "numba (machine)" are numba)
  function key_of(cell) { return cell ? cell.textContent.trim().split(/\s+/)[0] : ''; }
  function columnIndex(table, names) {
    const ths = Array.from(table.tHead ? table.tHead.rows[0].cells : []);
    return ths.findIndex(th => names.includes(th.dataset.col));
  }
  function values(key) {
    const seen = new Set();
    document.querySelectorAll('table.data').forEach(t => {
      const c = columnIndex(t, FILTERS[key]);
      if (c < 0) return;
      Array.from(t.tBodies[0].rows).forEach(r => { const v = key_of(r.cells[c]); if (v) seen.add(v); });
    });
    document.querySelectorAll('section[data-' + key + ']').forEach(s => seen.add(s.dataset[key]));
    return Array.from(seen).sort();
  }
  Object.keys(FILTERS).forEach(key => {
    const label = document.createElement('label');
    label.textContent = key;
    const sel = document.createElement('select');
    sel.id = 'filter-' + key;
    sel.appendChild(new Option('all', ''));
    values(key).forEach(v => sel.appendChild(new Option(v, v)));
    sel.addEventListener('change', apply);
    label.appendChild(sel);
    bar.appendChild(label);
    selects[key] = sel;
  });
  const BACKENDS_LOWER = values('backend').map(b => b.toLowerCase());
  const text = document.createElement('input');
  text.type = 'search'; text.id = 'filter-text'; text.placeholder = 'text in a row';
  text.addEventListener('input', apply);
  const tl = document.createElement('label'); tl.textContent = 'search'; tl.appendChild(text); bar.appendChild(tl);
  const shown = document.createElement('span'); shown.id = 'shown'; bar.appendChild(shown);

  function apply() {
    const want = {};
    Object.keys(selects).forEach(k => { if (selects[k].value) want[k] = selects[k].value; });
    const needle = text.value.trim().toLowerCase();
    document.querySelectorAll('[data-op]').forEach(s => {
      s.hidden = !!want.op && s.dataset.op !== want.op;
    });
    document.querySelectorAll('section[data-pass]').forEach(s => {
      if (!s.hidden) s.hidden = !!want.pass && s.dataset.pass !== want.pass;
    });
    let visible = 0, total = 0;
    document.querySelectorAll('table.data').forEach(t => {
      const cols = {};
      Object.keys(want).forEach(k => { cols[k] = columnIndex(t, FILTERS[k]); });
      const ths = Array.from(t.tHead.rows[0].cells);
      // per-pass tables have a column per backend: the backend filter hides the others
      const backendCols = ths.map((th, i) => [th.dataset.col, i]).filter(([c]) => BACKENDS_LOWER.includes(c));
      backendCols.forEach(([c, i]) => {
        const hide = !!want.backend && c !== want.backend.toLowerCase() && cols.backend === -1;
        ths[i].hidden = hide;
        Array.from(t.tBodies[0].rows).forEach(r => { if (r.cells[i]) r.cells[i].hidden = hide; });
      });
      Array.from(t.tBodies[0].rows).forEach(r => {
        let ok = Object.keys(want).every(k => cols[k] < 0 || key_of(r.cells[cols[k]]) === want[k]);
        if (ok && needle) ok = r.textContent.toLowerCase().includes(needle);
        r.hidden = !ok;
        if (t.id === 'measurements') { total += 1; if (ok) visible += 1; }
      });
    });
    shown.textContent = visible + ' of ' + total + ' measurements shown';
    const frag = Object.entries(want).map(([k, v]) => k + '=' + encodeURIComponent(v));
    if (needle) frag.push('text=' + encodeURIComponent(needle));
    history.replaceState(null, '', frag.length ? '#' + frag.join('&') : location.pathname + location.search);
  }

  function sortKey(text) {
    const m = text.replace(/,/g, '').match(/^[~\s]*(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)/i);
    return m ? parseFloat(m[1]) : null;
  }
  document.querySelectorAll('table.data').forEach(t => {
    Array.from(t.tHead.rows[0].cells).forEach((th, i) => th.addEventListener('click', () => {
      const asc = !th.classList.contains('asc');
      Array.from(t.tHead.rows[0].cells).forEach(h => h.classList.remove('asc', 'desc'));
      th.classList.add(asc ? 'asc' : 'desc');
      const rows = Array.from(t.tBodies[0].rows);
      rows.sort((a, b) => {
        const x = a.cells[i] ? a.cells[i].textContent.trim() : '', y = b.cells[i] ? b.cells[i].textContent.trim() : '';
        const nx = sortKey(x), ny = sortKey(y);
        let c = (nx !== null && ny !== null) ? nx - ny : 0;
        if (c === 0) c = x.localeCompare(y, undefined, {numeric: true});  // 1024x768 before 1024x4096
        return asc ? c : -c;
      });
      rows.forEach(r => t.tBodies[0].appendChild(r));
    }));
  });
  if (location.hash.length > 1) {
    location.hash.slice(1).split('&').forEach(kv => {
      let k, v;
      try { [k, v] = kv.split('=').map(decodeURIComponent); } catch { return; }  // a malformed fragment
      if (selects[k]) {
        if (!Array.from(selects[k].options).some(o => o.value === v)) selects[k].appendChild(new Option(v, v));
        selects[k].value = v;
      } else if (k === 'text') text.value = v;
    });
  }
  apply();
})();

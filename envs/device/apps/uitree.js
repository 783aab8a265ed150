// The UI element list of a page, as an Android UI hierarchy dump would give it: every visible
// element that can be tapped or typed into, and every element with text of its own, with its
// bounds in CSS pixels. A tappable element's text is all the text inside it (its children are
// not listed again). Shared by the Device and MiniWoB envs; evaluated as a function.
() => {
  const out = [];
  const W = window.innerWidth, H = window.innerHeight;
  const TAPPABLE = new Set(["a", "button", "select", "option", "summary"]);
  const ROLES = new Set(["button", "link", "checkbox", "switch", "tab", "menuitem", "option", "radio"]);
  const clean = s => (s || "").replace(/\s+/g, " ").trim();
  const cut = (a, b) => [Math.max(a[0], b[0]), Math.max(a[1], b[1]), Math.min(a[2], b[2]), Math.min(a[3], b[3])];
  // Bounds are the visible part, as in an Android dump: clipped by the screen and by every scrolling
  // ancestor; an element scrolled out of sight keeps its full bounds, with visible false.
  const walk = (el, clip) => {
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden" || el.id === "sync-task-cover") return;
    const tag = el.tagName.toLowerCase();
    if (tag === "script" || tag === "style" || tag === "head") return;
    const r = el.getBoundingClientRect();
    const editable = (tag === "input" && !["checkbox", "radio", "button", "submit", "range", "hidden"].includes(el.type))
      || tag === "textarea" || el.isContentEditable;
    const checkable = tag === "input" && (el.type === "checkbox" || el.type === "radio");
    const role = el.getAttribute("role");
    const tappable = !editable && (TAPPABLE.has(tag) || checkable || (tag === "input" && ["button", "submit", "range"].includes(el.type))
      || el.hasAttribute("data-act") || ROLES.has(role) || typeof el.onclick === "function");
    const own = clean(Array.from(el.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join(" "));
    const sized = r.width > 0 && r.height > 0;
    const raw = [r.left, r.top, r.right, r.bottom], seen = cut(raw, clip);
    const visible = seen[2] > seen[0] && seen[3] > seen[1];
    if (sized && (tappable || editable || own)) {
      let cls = "TextView";
      if (editable) cls = "EditText";
      else if (checkable) cls = el.type === "radio" ? "RadioButton" : (el.dataset.switch ? "Switch" : "CheckBox");
      else if (tappable) cls = "Button";
      const text = editable ? (el.value || el.textContent || "") : (tappable ? clean(el.innerText || el.value || el.getAttribute("aria-label") || "") : own);
      out.push({
        cls, text: clean(text).slice(0, 120), hint: editable ? (el.getAttribute("placeholder") || el.getAttribute("aria-label") || "") : "",
        rid: el.dataset.rid || el.id || "", bounds: visible ? seen : raw,
        clickable: tappable || editable, editable, checked: checkable ? el.checked : null,
        focused: document.activeElement === el, visible, scrollable: false,
        full: visible && seen.every((v, i) => Math.abs(v - raw[i]) < 1), below: raw[3] > clip[3],
      });
      if (tappable || editable) return;
    }
    if (sized && el.scrollHeight > el.clientHeight + 2 && ["auto", "scroll"].includes(style.overflowY)) {
      out.push({cls: "ScrollView", text: "", hint: "", rid: el.dataset.rid || el.id || "", bounds: seen,
        clickable: false, editable: false, checked: null, focused: false, visible, scrollable: true, full: true, below: false});
    }
    const inner = ["auto", "scroll", "hidden"].includes(style.overflowY) && el !== document.body ? cut(clip, raw) : clip;
    for (const child of el.children) walk(child, inner);
  };
  walk(document.body, [0, 0, W, H]);
  return {width: W, height: H, elements: out};
}

// Calendar: an agenda of the month's events by day (long: it scrolls), an event's page and an edit form.
const eventById = (s, id) => s.events.find(e => e.id === Number(id));
device.register("calendar", {
  label: "Calendar", color: "#e37400", start: "agenda",
  screens: {
    agenda: (s) => {
      const sorted = [...s.events].sort((a, b) => a.day - b.day || a.time.localeCompare(b.time));
      let day = null, body = "";
      for (const e of sorted) {
        if (e.day !== day) { day = e.day; body += `<div class="section">${s.month} ${day}</div>`; }
        body += `<div class="row" data-act="show" data-arg="${e.id}" data-rid="calendar/event"><span class="main">${esc(e.title)}<div class="sub">${e.time}</div></span></div>`;
      }
      return {title: `${s.month}`, tools: `<button data-act="new" data-rid="calendar/new">New</button>`, body: body || `<div class="section">No events</div>`};
    },
    detail: (s, p) => {
      const e = eventById(s, p.id);
      return {title: "Event", body: `<div class="big" data-rid="calendar/title_view">${esc(e.title)}</div><div class="row"><span class="main">${s.month} ${e.day}, ${e.time}</span></div>`
        + `<div class="center"><button data-act="edit" data-rid="calendar/edit">Edit</button><button class="danger" data-act="delete" data-rid="calendar/delete">Delete</button></div>`};
    },
    edit: (s, p) => ({title: p.id ? "Edit event" : "New event", tools: `<button data-act="save" data-rid="calendar/save">Save</button>`,
      body: `<div class="form"><label class="lab">Title</label>${device.input("calendar/title", "Title")}${clearButton("calendar/title")}`
        + `<label class="lab">Day of ${s.month} (1-30)</label>${device.input("calendar/day", "Day", 'inputmode="numeric"')}${clearButton("calendar/day")}`
        + `<label class="lab">Time (HH:MM)</label>${device.input("calendar/time", "HH:MM")}${clearButton("calendar/time")}`
        + (p.error ? `<div class="sub" data-rid="calendar/error">${esc(p.error)}</div>` : "") + `</div>`}),
  },
  acts: {
    new: () => device.open("edit", {}),
    show: (s, p, id) => device.open("detail", {id: Number(id)}),
    edit: (s, p) => { const e = eventById(s, p.id); device.open("edit", {id: e.id, "field:calendar/title": e.title, "field:calendar/day": String(e.day), "field:calendar/time": e.time}); },
    delete: (s, p) => { s.events = s.events.filter(e => e.id !== p.id); device.back(); },
    clear: (s, p, rid) => { p["field:" + rid] = ""; device.render(); },
    save: (s, p) => {
      const title = device.field("calendar/title").trim(), day = Number(device.field("calendar/day").trim()), time = device.field("calendar/time").trim();
      if (!title || !Number.isInteger(day) || day < 1 || day > 30 || !/^([01]\d|2[0-3]):[0-5]\d$/.test(time)) {
        p.error = "Give a title, a day from 1 to 30 and a time as HH:MM"; return device.render();
      }
      let e = p.id ? eventById(s, p.id) : null;
      if (!e) { e = {id: Math.max(0, ...s.events.map(x => x.id)) + 1}; s.events.push(e); }
      Object.assign(e, {title, day, time});
      device.replace("detail", {id: e.id});
    },
  },
});

// Contacts: a list, a contact's page (star, edit, delete with confirmation) and an edit form.
const contactById = (s, id) => s.contacts.find(c => c.id === Number(id));
device.register("contacts", {
  label: "Contacts", color: "#188038", start: "list",
  screens: {
    list: (s) => ({title: "Contacts", tools: `<button data-act="add" data-rid="contacts/add">Add</button>`,
      body: [...s.contacts].sort((a, b) => a.name.localeCompare(b.name)).map(c =>
        `<div class="row" data-act="show" data-arg="${c.id}" data-rid="contacts/item"><span class="main">${esc(c.name)}${c.starred ? " ★" : ""}</span></div>`).join("")
        || `<div class="section">No contacts</div>`}),
    detail: (s, p) => {
      const c = contactById(s, p.id);
      return {title: "Contact", tools: `<button class="flat" data-act="star" data-rid="contacts/star">${c.starred ? "Unstar" : "Star"}</button>`,
        body: `<div class="big" data-rid="contacts/name_view">${esc(c.name)}</div><div class="row"><span class="main" data-rid="contacts/phone_view">${esc(c.phone)}</span></div>`
          + `<div class="row"><span class="main" data-rid="contacts/email_view">${esc(c.email || "No email")}</span></div>`
          + `<div class="center"><button data-act="edit" data-rid="contacts/edit">Edit</button><button class="danger" data-act="delete" data-rid="contacts/delete">Delete</button></div>`};
    },
    confirm: (s, p) => ({title: "Delete contact?", body: `<div class="big">Delete ${esc(contactById(s, p.id).name)}?</div>`
      + `<div class="center"><button class="flat" data-act="back" data-rid="contacts/cancel">Cancel</button><button class="danger" data-act="confirm" data-rid="contacts/confirm">Delete</button></div>`}),
    edit: (s, p) => ({title: p.id ? "Edit contact" : "New contact", tools: `<button data-act="save" data-rid="contacts/save">Save</button>`,
      body: `<div class="form"><label class="lab">Name</label>${device.input("contacts/name", "Name")}${clearButton("contacts/name")}`
        + `<label class="lab">Phone</label>${device.input("contacts/phone", "Phone", 'type="tel"')}${clearButton("contacts/phone")}`
        + `<label class="lab">Email</label>${device.input("contacts/email", "Email")}${clearButton("contacts/email")}`
        + (p.error ? `<div class="sub" data-rid="contacts/error">${esc(p.error)}</div>` : "") + `</div>`}),
  },
  acts: {
    add: () => device.open("edit", {}),
    show: (s, p, id) => device.open("detail", {id: Number(id)}),
    star: (s, p) => { const c = contactById(s, p.id); c.starred = !c.starred; device.render(); },
    edit: (s, p) => { const c = contactById(s, p.id); device.open("edit", {id: c.id, "field:contacts/name": c.name, "field:contacts/phone": c.phone, "field:contacts/email": c.email}); },
    delete: (s, p) => device.open("confirm", {id: p.id}),
    confirm: (s, p) => { s.contacts = s.contacts.filter(c => c.id !== p.id); device.stack.splice(-2, 2); device.render(); },
    clear: (s, p, rid) => { p["field:" + rid] = ""; device.render(); },
    save: (s, p) => {
      const name = device.field("contacts/name").trim(), phone = device.field("contacts/phone").trim(), email = device.field("contacts/email").trim();
      if (!name) { p.error = "Name is required"; return device.render(); }
      let c = p.id ? contactById(s, p.id) : null;
      if (!c) { c = {id: Math.max(0, ...s.contacts.map(x => x.id)) + 1, starred: false}; s.contacts.push(c); }
      Object.assign(c, {name, phone, email});
      device.replace("detail", {id: c.id});
    },
  },
});
function clearButton(rid) { return `<button class="flat" data-act="clear" data-arg="${rid}" data-rid="${rid}_clear">Clear</button>`; }

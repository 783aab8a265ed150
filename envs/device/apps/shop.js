// Shop: a catalogue with search, a product page (quantity, add to cart), the cart, checkout and orders.
const productById = (s, id) => s.shop.products.find(x => x.id === Number(id));
const cartCount = s => Object.values(s.shop.cart).reduce((a, b) => a + b, 0);
const money = v => "$" + v.toFixed(2);
device.register("shop", {
  label: "Shop", color: "#a142f4", start: "catalogue",
  screens: {
    catalogue: (s, p) => {
      const q = (p.q || "").toLowerCase();
      const items = s.shop.products.filter(x => !q || x.name.toLowerCase().includes(q) || x.category.toLowerCase().includes(q));
      return {title: "Shop", tools: `<button data-act="cart" data-rid="shop/cart">Cart (${cartCount(s)})</button>`,
        body: `<div class="form" style="padding-top:8px">${device.input("shop/search", "Search products", 'data-enter="search"')}</div>`
          + items.map(x => `<div class="row" data-act="product" data-arg="${x.id}" data-rid="shop/product"><span class="main">${esc(x.name)}<div class="sub">${esc(x.category)} · ${money(x.price)}</div></span></div>`).join("")
          + (items.length ? "" : `<div class="section">No results</div>`)};
    },
    product: (s, p) => {
      const x = productById(s, p.id);
      return {title: "Product", body: `<div class="big" data-rid="shop/name">${esc(x.name)}</div><div class="row"><span class="main">${esc(x.category)}</span>${money(x.price)}</div>`
        + `<div class="center"><button data-act="qty" data-arg="-1" data-rid="shop/qty_down">−</button><span class="value" data-rid="shop/qty">${p.qty || 1}</span><button data-act="qty" data-arg="1" data-rid="shop/qty_up">+</button></div>`
        + `<div class="center"><button data-act="add" data-rid="shop/add">Add to cart</button></div>` + (p.added ? `<div class="section" data-rid="shop/added">Added to cart</div>` : "")};
    },
    cart: (s) => {
      const rows = Object.entries(s.shop.cart).map(([id, n]) => { const x = productById(s, id);
        return `<div class="row"><span class="main">${esc(x.name)}<div class="sub">${n} × ${money(x.price)}</div></span><button class="flat" data-act="remove" data-arg="${id}" data-rid="shop/remove">Remove</button></div>`; });
      const total = Object.entries(s.shop.cart).reduce((a, [id, n]) => a + n * productById(s, id).price, 0);
      return {title: "Cart", body: rows.join("") || `<div class="section">Your cart is empty</div>`,
        bottom: `<span class="main" style="flex:1">Total ${money(total)}</span>` + (rows.length ? `<button data-act="checkout" data-rid="shop/checkout">Checkout</button>` : "")};
    },
    checkout: (s, p) => ({title: "Checkout", body: `<div class="form"><label class="lab">Shipping address</label>${device.input("shop/address", "Address")}${clearButton("shop/address")}`
      + (p.error ? `<div class="sub" data-rid="shop/error">${esc(p.error)}</div>` : "") + `</div>`, bottom: `<button data-act="place" data-rid="shop/place">Place order</button>`}),
    placed: (s) => ({title: "Order placed", body: `<div class="big">Thank you! Order #${s.shop.orders.length} is on its way.</div>`}),
  },
  acts: {
    search: (s, p) => { p.q = device.field("shop/search").trim(); device.render(); },
    cart: () => device.open("cart"),
    product: (s, p, id) => device.open("product", {id: Number(id), qty: 1}),
    qty: (s, p, d) => { p.qty = Math.max(1, Math.min(9, (p.qty || 1) + Number(d))); p.added = false; device.render(); },
    add: (s, p) => { s.shop.cart[p.id] = (s.shop.cart[p.id] || 0) + (p.qty || 1); p.added = true; device.render(); },
    remove: (s, p, id) => { delete s.shop.cart[id]; device.render(); },
    checkout: (s) => device.open("checkout", {"field:shop/address": s.shop.address}),
    clear: (s, p, rid) => { p["field:" + rid] = ""; device.render(); },
    place: (s, p) => {
      const address = device.field("shop/address").trim();
      if (!address) { p.error = "Enter a shipping address"; return device.render(); }
      const total = Object.entries(s.shop.cart).reduce((a, [id, n]) => a + n * productById(s, id).price, 0);
      s.shop.orders.push({items: {...s.shop.cart}, address, total: Math.round(total * 100) / 100});
      s.shop.cart = {}; s.shop.address = address;
      device.replace("placed", {});
    },
  },
});

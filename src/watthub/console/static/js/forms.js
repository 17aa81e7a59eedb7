// A typed form generated from an official OCPP 1.6 JSON schema (served by /ocpp/schemas/{action}).
// Empty optional fields are left out of the payload; the API validates against the same schema.
import { h } from "./dom.js";

let uid = 0;

function label(name, required, control, hint) {
  return h("label", {}, h("span", { class: required ? "req" : "" }, hint ? `${name} (${hint})` : name), control);
}

function field(schema, name, required) {
  const id = `cmd-${name}-${++uid}`;
  if (schema.enum) {
    const el = h("select", { id, name }, required ? null : h("option", { value: "" }, "—"), schema.enum.map((v) => h("option", { value: v }, v)));
    return { el: label(name, required, el), read: () => el.value || undefined };
  }
  switch (schema.type) {
    case "integer":
    case "number": {
      const el = h("input", { id, name, type: "number", step: schema.type === "integer" ? 1 : "any", min: schema.minimum, max: schema.maximum });
      return { el: label(name, required, el), read: () => (el.value === "" ? undefined : Number(el.value)) };
    }
    case "boolean": {
      const el = h("select", { id, name }, h("option", { value: "" }, "—"), h("option", { value: "true" }, "true"), h("option", { value: "false" }, "false"));
      return { el: label(name, required, el), read: () => (el.value === "" ? undefined : el.value === "true") };
    }
    case "object":
      return objectField(schema, name, required);
    case "array":
      return arrayField(schema, name, required);
    default: {
      if (schema.format === "date-time") {
        const el = h("input", { id, name, type: "datetime-local", step: 1 });
        return { el: label(name, required, el, "local time"), read: () => (el.value ? new Date(el.value).toISOString() : undefined) };
      }
      const el = h("input", { id, name, maxlength: schema.maxLength });
      return { el: label(name, required, el), read: () => (el.value === "" ? undefined : el.value) };
    }
  }
}

function objectField(schema, name, required) {
  const needed = new Set(schema.required || []);
  const children = Object.entries(schema.properties || {}).map(([k, sub]) => [k, field(sub, k, needed.has(k))]);
  const body = children.map(([, f]) => f.el);
  const el = name ? h("fieldset", {}, h("legend", { class: required ? "req" : "" }, name), h("div", { class: "form" }, body)) : h("div", { class: "form" }, body);
  const read = () => {
    const out = {};
    for (const [k, f] of children) {
      const v = f.read();
      if (v !== undefined) out[k] = v;
    }
    return Object.keys(out).length || required || !name ? out : undefined;
  };
  return { el, read };
}

function arrayField(schema, name, required) {
  const items = [];
  const list = h("div", { class: "form stack" });
  const add = h("button", { type: "button", class: "secondary" }, `Add ${name} item`);
  add.addEventListener("click", () => {
    const f = field(schema.items || { type: "string" }, `${name}[${items.length}]`, true);
    const remove = h("button", { type: "button", class: "secondary" }, "Remove");
    const row = h("div", { class: "form" }, f.el, remove);
    const entry = { f, row };
    remove.addEventListener("click", () => {
      items.splice(items.indexOf(entry), 1);
      row.remove();
    });
    items.push(entry);
    list.append(row);
  });
  const el = h("fieldset", {}, h("legend", { class: required ? "req" : "" }, name), list, add);
  return {
    el,
    read: () => {
      const values = items.map((i) => i.f.read()).filter((v) => v !== undefined);
      return values.length || required ? values : undefined;
    },
  };
}

export function schemaForm(schema) {
  return objectField(schema, "", true);
}

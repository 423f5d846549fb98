// Passkeys on the portal's pages. Each form[data-passkey] carries its WebAuthn options (JSON) in
// data-options and stays hidden unless this browser can use them; on submit the browser asks
// the authenticator and the form posts its answer in the hidden "credential" field. The sign-in
// page also offers passkeys in the email field's autofill (conditional mediation).
const json = window.PublicKeyCredential?.parseRequestOptionsFromJSON !== undefined;
let waiting = null; // the autofill request, given up when a button asks instead

function say(form, text) {
  const status = form.querySelector("[data-passkey-status]");
  status.textContent = text;
  status.hidden = !text;
}

async function ask(form, mediation) {
  const options = JSON.parse(form.dataset.options);
  if (form.dataset.passkey === "register") {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
    return navigator.credentials.create({ publicKey });
  }
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
  waiting?.abort();
  waiting = new AbortController();
  return navigator.credentials.get({ publicKey, mediation, signal: waiting.signal });
}

function send(form, credential) {
  form.elements.credential.value = JSON.stringify(credential.toJSON());
  const remember = document.getElementById("remember");
  if (form.elements.remember && remember) {
    form.elements.remember.value = remember.checked ? "on" : "";
  }
  form.submit();
}

for (const note of document.querySelectorAll("[data-passkey-missing]")) note.hidden = json;
for (const form of document.querySelectorAll("form[data-passkey]")) {
  if (!json) continue;
  form.hidden = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (form.reportValidity && !form.reportValidity()) return;
    say(form, "");
    try {
      send(form, await ask(form, "optional"));
    } catch (error) {
      if (error.name === "AbortError") return;
      // The words are the page's, in its language (data-registered, data-failed).
      say(form, error.name === "InvalidStateError" ? form.dataset.registered : form.dataset.failed);
    }
  });
}

const signIn = document.querySelector('form[data-passkey="sign-in"]');
if (json && signIn && await PublicKeyCredential.isConditionalMediationAvailable?.()) {
  ask(signIn, "conditional").then((credential) => send(signIn, credential), () => {});
}

// The script of the server's pages. The passkey step: asks the browser's
// authenticator to answer the server's WebAuthn challenge, then posts the
// answer with the form. A fallback stage done: tells the client that
// opened the page, as the spec says (onAuthDone, or an "authDone" message
// to the opener). Adding a passkey on the account page. Everything else
// works without script.
"use strict";

function fromBase64Url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function toBase64Url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  bytes.forEach((b) => { binary += String.fromCharCode(b); });
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// A credential as the server reads it: base64url fields, as JSON.
function credentialJson(credential, response) {
  return JSON.stringify({
    id: credential.id,
    rawId: toBase64Url(credential.rawId),
    type: credential.type,
    extensions: credential.getClientExtensionResults(),
    response,
  });
}

async function answerChallenge(form) {
  const options = JSON.parse(document.getElementById("webauthn-options").textContent);
  const publicKey = options.publicKey;
  publicKey.challenge = fromBase64Url(publicKey.challenge);
  (publicKey.allowCredentials || []).forEach((c) => { c.id = fromBase64Url(c.id); });
  const credential = await navigator.credentials.get({ publicKey });
  const response = credential.response;
  form.elements.credential.value = credentialJson(credential, {
    authenticatorData: toBase64Url(response.authenticatorData),
    clientDataJSON: toBase64Url(response.clientDataJSON),
    signature: toBase64Url(response.signature),
    userHandle: response.userHandle ? toBase64Url(response.userHandle) : null,
  });
  form.submit();
}

// The account page's "add a passkey": the server's options, the browser's
// authenticator, then the form with its answer.
async function addPasskey(form) {
  const body = new URLSearchParams({ csrf: form.elements.csrf.value });
  const answer = await fetch("/_lattice/account/passkey/options", {
    method: "POST",
    body,
    credentials: "same-origin",
  });
  if (!answer.ok) throw new Error("the server refused (" + answer.status + ")");
  const { registration, options } = await answer.json();
  const publicKey = options.publicKey;
  publicKey.challenge = fromBase64Url(publicKey.challenge);
  publicKey.user.id = fromBase64Url(publicKey.user.id);
  (publicKey.excludeCredentials || []).forEach((c) => { c.id = fromBase64Url(c.id); });
  const credential = await navigator.credentials.create({ publicKey });
  const response = credential.response;
  form.elements.registration.value = registration;
  form.elements.credential.value = credentialJson(credential, {
    attestationObject: toBase64Url(response.attestationObject),
    clientDataJSON: toBase64Url(response.clientDataJSON),
  });
  form.submit();
}

function tellClientAuthDone() {
  if (typeof window.onAuthDone === "function") {
    window.onAuthDone();
  } else if (window.opener && window.opener.postMessage) {
    window.opener.postMessage("authDone", "*");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  if (document.getElementById("auth-done")) tellClientAuthDone();
  const add = document.getElementById("add-passkey");
  if (add) {
    const form = document.getElementById("add-passkey-form");
    const error = document.getElementById("passkey-error");
    add.addEventListener("click", () => {
      error.hidden = true;
      addPasskey(form).catch((e) => {
        error.textContent = "No passkey was added: " + e.message;
        error.hidden = false;
      });
    });
  }
  const button = document.getElementById("use-passkey");
  if (!button) return;
  const form = document.getElementById("passkey-form");
  const error = document.getElementById("passkey-error");
  if (!window.PublicKeyCredential) {
    button.disabled = true;
    error.textContent = "This browser cannot use passkeys; use another factor.";
    error.hidden = false;
    return;
  }
  button.addEventListener("click", () => {
    error.hidden = true;
    answerChallenge(form).catch((e) => {
      error.textContent = "The passkey did not answer: " + e.message;
      error.hidden = false;
    });
  });
});

// The script of the server's pages. The passkey step: asks the browser's
// authenticator to answer the server's WebAuthn challenge, then posts the
// answer with the form. A fallback stage done: tells the client that
// opened the page, as the spec says (onAuthDone, or an "authDone" message
// to the opener). Everything else works without script.
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

async function answerChallenge(form) {
  const options = JSON.parse(document.getElementById("webauthn-options").textContent);
  const publicKey = options.publicKey;
  publicKey.challenge = fromBase64Url(publicKey.challenge);
  (publicKey.allowCredentials || []).forEach((c) => { c.id = fromBase64Url(c.id); });
  const credential = await navigator.credentials.get({ publicKey });
  const response = credential.response;
  form.elements.credential.value = JSON.stringify({
    id: credential.id,
    rawId: toBase64Url(credential.rawId),
    type: credential.type,
    extensions: credential.getClientExtensionResults(),
    response: {
      authenticatorData: toBase64Url(response.authenticatorData),
      clientDataJSON: toBase64Url(response.clientDataJSON),
      signature: toBase64Url(response.signature),
      userHandle: response.userHandle ? toBase64Url(response.userHandle) : null,
    },
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

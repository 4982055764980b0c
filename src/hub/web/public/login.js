// The login form: POST /login as JSON (the hub logs in to the XMPP server with it); the session cookie follows.
const form = document.getElementById('login');
const error = document.getElementById('error');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.textContent = '';
  const data = new FormData(form);
  form.querySelector('button').disabled = true;
  try {
    const res = await fetch('/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jid: data.get('jid'), password: data.get('password') }),
    });
    if (res.ok) {
      location.assign('/');
      return;
    }
    const body = await res.json().catch(() => ({}));
    error.textContent = body.error ?? `login failed (HTTP ${res.status})`;
  } catch (err) {
    error.textContent = `cannot reach the hub: ${err.message}`;
  } finally {
    form.querySelector('button').disabled = false;
  }
});

import { html, type SafeHtml } from '../web/html.ts';
import type { SignupStep } from './signup.ts';

/**
 * The person's sign-up and login pages (pure: data in, markup out), in the checkout's look; the controllers are in
 * routes.ts. Every form carries the CSRF token and the relative path to go back to (`next`).
 */
interface Form {
  csrf: string;
  next: string;
  error?: string;
  /** Sandbox: where the code can be read. */
  sandbox?: boolean;
}

const errBox = (m?: string) => (m ? html`<div class="error" role="alert" id="error">${m}</div>` : '');
const hidden = (f: Form) =>
  html`<input type="hidden" name="csrf" value="${f.csrf}"><input type="hidden" name="next" value="${f.next}">`;
const withNext = (path: string, next: string) => `${path}?next=${encodeURIComponent(next)}`;

const STEP_NAMES: Record<SignupStep, string> = { EMAIL: 'E-mail', CODE: 'Code', PASSWORD: 'Password' };
function steps(at: SignupStep): SafeHtml {
  const order: SignupStep[] = ['EMAIL', 'CODE', 'PASSWORD'];
  const i = order.indexOf(at);
  return html`<ol class="steps" aria-label="Sign-up steps">${order.map(
    (s, j) => html`<li class="${j < i ? 'done' : j === i ? 'current' : ''}">${STEP_NAMES[s]}</li>`,
  )}</ol>`;
}

export function signupEmailView(f: Form): SafeHtml {
  return html`<div class="card" id="signup" data-step="EMAIL"><h1>Create your account</h1>${steps('EMAIL')}
    <p class="muted">One account to pay checkouts, hold funds and buy crypto. We will send a 6-digit code to your
    e-mail.</p>${errBox(f.error)}
    <form method="post" action="/signup">${hidden(f)}
      <label for="email">E-mail</label><input id="email" name="email" type="email" autocomplete="email" required
      maxlength="254">
      <button class="btn" type="submit">Send code</button></form>
    <p class="muted">Already have an account? <a id="login-link" href="${withNext('/login', f.next)}">Log in</a></p>
  </div>`;
}

export function signupCodeView(f: Form & { email: string; sent: boolean }): SafeHtml {
  return html`<div class="card" id="signup" data-step="CODE"><h1>Check your e-mail</h1>${steps('CODE')}
    ${f.sent ? html`<div class="status ok" id="sent">Code sent</div>` : ''}
    <p>Enter the 6-digit code we sent to <strong id="sent-to">${f.email}</strong>. It is valid for 10 minutes.</p>
    ${f.sandbox ? html`<p class="muted">Sandbox: the message is in the dev mailbox (/dev/mailbox).</p>` : ''}
    ${errBox(f.error)}
    <form method="post" action="/signup/code">${hidden(f)}
      <label for="code">Verification code</label><input id="code" name="code" type="text" inputmode="numeric"
      pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required>
      <button class="btn" type="submit">Continue</button></form>
    <form method="post" action="/signup/resend">${hidden(f)}<button class="btn secondary" id="resend"
      type="submit">Send a new code</button></form>
    <form method="post" action="/signup/restart">${hidden(f)}<button class="btn secondary" id="restart"
      type="submit">Use another e-mail</button></form>
  </div>`;
}

export function signupPasswordView(f: Form & { email: string }): SafeHtml {
  return html`<div class="card" id="signup" data-step="PASSWORD"><h1>Choose a password</h1>${steps('PASSWORD')}
    <p class="muted">E-mail confirmed: ${f.email}. Use this e-mail and password at the checkout, in your wallet and
    when you buy crypto.</p>${errBox(f.error)}
    <form method="post" action="/signup/password">${hidden(f)}
      <input type="email" name="username" value="${f.email}" autocomplete="username" hidden>
      <label for="password">Password</label><input id="password" name="password" type="password"
      autocomplete="new-password" minlength="8" maxlength="128" required>
      <p class="muted">8 to 128 characters, with an upper case letter, a lower case letter and a digit.</p>
      <label class="choice"><input type="checkbox" name="terms" value="1" id="terms" required> I agree with
      Rampart's Terms of Use and Privacy Policy</label>
      <button class="btn" type="submit" id="create">Create account</button></form>
    <form method="post" action="/signup/restart">${hidden(f)}<button class="btn secondary" id="restart"
      type="submit">Use another e-mail</button></form>
  </div>`;
}

export function loginView(f: Form): SafeHtml {
  return html`<div class="card" id="login"><h1>Log in</h1>
    <p class="muted">With the e-mail and password of your Rampart account.</p>${errBox(f.error)}
    <form method="post" action="/login">${hidden(f)}
      <label for="email">E-mail</label><input id="email" name="email" type="email" autocomplete="username" required
      maxlength="254">
      <label for="password">Password</label><input id="password" name="password" type="password"
      autocomplete="current-password" required maxlength="128">
      <button class="btn" type="submit">Log in</button></form>
    <p class="muted">New here? <a id="signup-link" href="${withNext('/signup', f.next)}">Create an account</a></p>
  </div>`;
}

/** Already logged in: where to go on, or log out (the session's own CSRF token). */
export function loggedInView(v: { email: string; next: string; sessionCsrf: string }): SafeHtml {
  return html`<div class="card" id="logged-in"><h1>You are logged in</h1>
    <p class="muted">As <strong>${v.email}</strong>.</p>
    <a class="btn" id="continue" href="${v.next}">Continue</a>
    <form method="post" action="/logout"><input type="hidden" name="csrf" value="${v.sessionCsrf}"><input
      type="hidden" name="next" value="${withNext('/login', v.next)}"><button class="btn secondary" id="logout"
      type="submit">Log out</button></form>
  </div>`;
}

/**
 * A browser's cookies and forms over fetch, redirects not followed: what a person's pages see, without Chromium.
 */
export function formBrowser(baseUrl: string) {
  const jar = new Map<string, string>();
  const setCookies: string[] = [];
  async function req(method: string, path: string, form?: Record<string, string>) {
    const res = await fetch(baseUrl + path, {
      method,
      redirect: 'manual',
      headers: {
        cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      body: form ? new URLSearchParams(form).toString() : undefined,
    });
    for (const c of res.headers.getSetCookie()) {
      setCookies.push(c);
      const [pair] = c.split(';');
      const [k, v] = [pair!.slice(0, pair!.indexOf('=')), pair!.slice(pair!.indexOf('=') + 1)];
      if (v === '' || /Expires=Thu, 01 Jan 1970/i.test(c) || /Max-Age=0/i.test(c)) jar.delete(k);
      else jar.set(k, v);
    }
    const body = await res.text();
    return { status: res.status, location: res.headers.get('location'), body };
  }
  const csrfIn = (body: string) => /name="csrf" value="([^"]+)"/.exec(body)?.[1] ?? '';
  /** The once-only key a console form carries (any of the page's forms' keys will do: each is good once). */
  const formKeyIn = (body: string) => /name="formKey" value="([^"]+)"/.exec(body)?.[1];
  return {
    jar,
    setCookies,
    get: (path: string) => req('GET', path),
    post: (path: string, form: Record<string, string>) => req('POST', path, form),
    /** GETs `page`, then posts `form` with the page's CSRF token (and its form key, on a console page). */
    async submit(page: string, action: string, form: Record<string, string> = {}) {
      const p = await req('GET', page);
      const formKey = formKeyIn(p.body);
      return req('POST', action, { csrf: csrfIn(p.body), ...(formKey ? { formKey } : {}), ...form });
    },
    csrfIn,
    formKeyIn,
  };
}
export type FormBrowser = ReturnType<typeof formBrowser>;

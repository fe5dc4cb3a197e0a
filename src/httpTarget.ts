// Where an outbound HTTP call goes, and what its error texts may say of the answer: the two rules the rule
// services' client and the notification sink share.

export interface HttpTarget {
  /** The URL without credentials (fetch refuses a URL that has them). */
  url: URL;
  /** Credentials in the URL (user:password@) go as Basic auth, as node:http sent them. */
  authorization: string | undefined;
  /** The start of a failed answer's body as an error text keeps it, with the address it was sent to taken out. */
  excerpt(body: string, chars: number): string;
}

export function httpTarget(address: string): HttpTarget {
  const url = new URL(address);
  const authorization = url.username
    ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")}`
    : undefined;
  // A receiver may echo what it was sent ("Cannot POST /hooks/<token>"); an error text is stored in request
  // rows, outbox rows and alerts, where the address (its path may be a secret) must never go. Longest first.
  const secrets = [
    url.username,
    url.password,
    url.href,
    `${url.host}${url.pathname}`,
    url.pathname,
    url.search,
    url.host,
  ]
    .map((part) => {
      try {
        return decodeURIComponent(part);
      } catch {
        return part;
      }
    })
    .filter((part) => part.length > 1)
    .sort((a, b) => b.length - a.length);
  url.username = "";
  url.password = "";
  return {
    url,
    authorization,
    excerpt(body, chars) {
      let text = body;
      for (const secret of secrets) text = text.split(secret).join("[address]");
      return text.slice(0, chars);
    },
  };
}

// Settings → LLM Providers: add, test, set default, replace, deactivate, delete. Keys go in;
// only masked forms come back.
import { useEffect, useState } from "preact/hooks";
import { commands, events, type CommandError, type KeyHealth, type KeyLine, type KeySummary, type Provider } from "../bindings";
import { ErrorNote } from "../components/error-note";

type Result<T> = { status: "ok"; data: T } | { status: "error"; error: CommandError };

export function Providers() {
  const [catalog, setCatalog] = useState<Provider[]>([]);
  const [keys, setKeys] = useState<KeySummary[]>([]);
  const [lines, setLines] = useState<KeyLine[]>([]);
  const [error, setError] = useState<CommandError | null>(null);

  const reload = async () => {
    const [r, o] = await Promise.all([commands.keysList(), commands.overview()]);
    if (r.status === "ok") setKeys(r.data);
    else setError(r.error);
    // Who uses each key, and whether its last real call was refused.
    if (o.status === "ok") setLines(o.data.keys);
  };

  useEffect(() => {
    commands.providersCatalog().then(setCatalog);
    reload();
    // A key added or changed from a terminal (run by the app) shows at once.
    const stop = events.configurationChanged.listen(() => reload());
    return () => {
      stop.then((u) => u());
    };
  }, []);

  /** Runs a key command, shows its error if any, and reloads the list. */
  const act = async <T,>(run: () => Promise<Result<T>>): Promise<T | null> => {
    setError(null);
    const r = await run();
    await reload();
    if (r.status === "error") {
      setError(r.error);
      return null;
    }
    return r.data;
  };

  const nameOf = (id: string) => catalog.find((p) => p.id === id)?.name ?? id;

  return (
    <section class="card wide" id="providers">
      <h2>LLM Providers</h2>
      <p class="fine">
        Keys are encrypted in your vault. After saving, a key is shown only masked: it can be replaced, never read
        back.
      </p>
      <ErrorNote error={error} />
      {keys.length > 0 && (
        // One key press to the form, past every key's buttons.
        <button
          class="link"
          id="jump-to-add-key"
          onClick={() => {
            document.getElementById("add-key")?.scrollIntoView({ block: "nearest" });
            document.getElementById("add-provider")?.focus();
          }}
        >
          Add a key
        </button>
      )}
      {keys.length === 0 ? (
        <p class="empty" id="no-keys">
          No keys yet. Add one below.
        </p>
      ) : (
        <ul class="keys">
          {keys.map((k) => (
            <KeyRow key={k.id} k={k} line={lines.find((l) => l.id === k.id)} providerName={nameOf(k.provider)} act={act} />
          ))}
        </ul>
      )}
      <AddKey catalog={catalog} act={act} />
    </section>
  );
}

/** How a key's health (the core's kind) looks: a dot's tone and a word. Exhaustive: a kind added
 * in Rust does not compile here until it is placed. */
export function healthLook(h: KeyHealth): { tone: "good" | "bad" | "warn" | "none"; word: string } {
  switch (h) {
    case "working":
      return { tone: "good", word: "working" };
    case "rejected":
      return { tone: "bad", word: "rejected" };
    case "refused_in_use":
      return { tone: "bad", word: "refused on its last call" };
    case "unreachable":
      return { tone: "warn", word: "unreachable" };
    case "rate_limited":
      return { tone: "warn", word: "rate limited" };
    case "unexpected":
      return { tone: "warn", word: "unexpected reply" };
    case "not_tested":
      return { tone: "none", word: "not tested" };
    case "deactivated":
      return { tone: "none", word: "deactivated" };
    default: {
      const unplaced: never = h;
      return unplaced;
    }
  }
}

function KeyRow({
  k,
  line,
  providerName,
  act,
}: {
  k: KeySummary;
  line?: KeyLine;
  providerName: string;
  act: <T>(run: () => Promise<Result<T>>) => Promise<T | null>;
}) {
  const [replacing, setReplacing] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [testing, setTesting] = useState(false);
  const [newSecret, setNewSecret] = useState("");
  const [showModels, setShowModels] = useState(false);
  const health = line?.health ?? k.health;
  const look = healthLook(health);

  return (
    <li class={`key ${k.active ? "" : "inactive"}`} data-key-label={k.label}>
      <div class="key-head">
        <strong>{k.label}</strong>
        <span class="provider">{providerName}</span>
        <code class="masked">{k.masked || "no key"}</code>
        {k.is_default && <span class="badge">default</span>}
        {k.local && <span class="badge local">local</span>}
        {k.allow_insecure_http && (
          <span class="badge warn" title="This key is sent over plain http:// to another machine, as you allowed.">
            plain http allowed
          </span>
        )}
        <span
          class={`state health ${look.tone}`}
          data-health={health}
          title={health === "refused_in_use" ? "The provider refused this key on its last real call (401/403)." : (k.last_test ?? "Not tested yet")}
        >
          <span class="dot" aria-hidden="true" />
          {look.word}
        </span>
      </div>
      {k.base_url && <div class="fine">Base URL: {k.base_url}</div>}
      {k.last_test && (
        <div class="last-test" role="status">
          {testing ? "Testing…" : k.last_test}
        </div>
      )}
      {!k.last_test && testing && <div class="last-test">Testing…</div>}
      {k.models.length > 0 && (
        <button class="link models-toggle" onClick={() => setShowModels(!showModels)}>
          {showModels ? "Hide" : "Show"} {k.models.length} {k.models.length === 1 ? "model" : "models"}
        </button>
      )}
      {showModels && (
        <ul class="models">
          {k.models.map((m) => (
            <li key={m}>{m}</li>
          ))}
        </ul>
      )}
      <div class="actions">
        <button
          class="test"
          disabled={testing || !k.active}
          onClick={async () => {
            setTesting(true);
            await act(() => commands.keysTest(k.id));
            setTesting(false);
          }}
        >
          Test
        </button>
        {!k.is_default && k.active && (
          <button class="secondary default" onClick={() => act(() => commands.keysSetDefault(k.id))}>
            Set as default
          </button>
        )}
        {k.masked && (
          <button class="secondary replace" onClick={() => setReplacing(!replacing)}>
            Replace
          </button>
        )}
        <button class="secondary toggle-active" onClick={() => act(() => commands.keysSetActive(k.id, !k.active))}>
          {k.active ? "Deactivate" : "Reactivate"}
        </button>
        <button class="danger delete" onClick={() => setConfirmDelete(true)}>
          Delete
        </button>
      </div>
      {replacing && (
        <form
          class="inline"
          onSubmit={async (e) => {
            e.preventDefault();
            if (await act(() => commands.keysRotate(k.id, newSecret))) {
              setReplacing(false);
              setNewSecret("");
            }
          }}
        >
          <input
            class="replace-secret"
            type="password"
            placeholder="Paste the new key"
            value={newSecret}
            onInput={(e) => setNewSecret((e.target as HTMLInputElement).value)}
          />
          <button type="submit" class="replace-save">
            Save new key
          </button>
        </form>
      )}
      {confirmDelete && (
        <div class="confirm" role="alertdialog">
          <p>
            Delete <strong>{k.label}</strong> ({k.masked || providerName})?{" "}
            {line && line.used_by.length > 0
              ? `${line.used_by.length === 1 ? "1 agent uses" : `${line.used_by.length} agents use`} it (${line.used_by.join(", ")}): their steps on this key will fail until they get another.`
              : "No agent uses it."}{" "}
            This cannot be undone.
          </p>
          <button class="danger confirm-delete" onClick={() => act(() => commands.keysRemove(k.id))}>
            Delete key
          </button>
          <button class="secondary" onClick={() => setConfirmDelete(false)}>
            Cancel
          </button>
        </div>
      )}
    </li>
  );
}

/** Whether a URL's host is this machine, as Keyhold's core decides it (localhost, 127.x, [::1]). */
export function isLoopback(url: string): boolean {
  try {
    const host = new URL(url.trim()).hostname.toLowerCase();
    return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
}

function AddKey({
  catalog,
  act,
}: {
  catalog: Provider[];
  act: <T>(run: () => Promise<Result<T>>) => Promise<T | null>;
}) {
  const [provider, setProvider] = useState("anthropic");
  const [label, setLabel] = useState("");
  const [secret, setSecret] = useState("");
  const [baseUrl, setBaseUrl] = useState("");
  const [allowHttp, setAllowHttp] = useState(false);
  const [markedLocal, setMarkedLocal] = useState(false);
  const [warnings, setWarnings] = useState<string[]>([]);
  const spec = catalog.find((p) => p.id === provider);
  const keyless = spec?.auth === "none";
  // Plain http to another machine: the key would travel unencrypted, so it takes an explicit yes.
  const plainHttpElsewhere = /^http:\/\//i.test(baseUrl.trim()) && !isLoopback(baseUrl);
  const lanServer = keyless && baseUrl.trim() !== "" && !isLoopback(baseUrl);

  const submit = async (e: Event) => {
    e.preventDefault();
    setWarnings([]);
    const reach = {
      allow_insecure_http: !keyless && plainHttpElsewhere && allowHttp,
      marked_local: lanServer && markedLocal,
    };
    const saved = await act(() => commands.keysAdd(provider, label, baseUrl || null, keyless ? "" : secret, reach));
    if (saved) {
      // A new key is tested right away: the list then says whether it works.
      act(() => commands.keysTest(saved.key.id));
      setWarnings(saved.warnings);
      setLabel("");
      setSecret("");
      setBaseUrl("");
      setAllowHttp(false);
      setMarkedLocal(false);
    }
  };

  return (
    <form class="add-key" onSubmit={submit} id="add-key">
      <h3>Add a key</h3>
      <label>
        Provider
        <select id="add-provider" value={provider} onChange={(e) => setProvider((e.target as HTMLSelectElement).value)}>
          {catalog.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Label
        <input id="add-label" value={label} onInput={(e) => setLabel((e.target as HTMLInputElement).value)} />
      </label>
      {!keyless && (
        <label>
          API key
          <input
            id="add-key-secret"
            type="password"
            autocomplete="off"
            placeholder={spec?.key_prefix ? `${spec.key_prefix}…` : ""}
            value={secret}
            onInput={(e) => setSecret((e.target as HTMLInputElement).value)}
          />
        </label>
      )}
      <label>
        {keyless ? "Address" : "Base URL (optional)"}
        <input
          id="add-base-url"
          placeholder={spec?.default_base_url ?? "https://your-server.example/v1"}
          value={baseUrl}
          onInput={(e) => setBaseUrl((e.target as HTMLInputElement).value)}
        />
      </label>
      {!keyless && plainHttpElsewhere && (
        <label class="check">
          <input
            type="checkbox"
            id="add-allow-http"
            checked={allowHttp}
            onChange={(e) => setAllowHttp((e.target as HTMLInputElement).checked)}
          />
          Send this key over plain http:// to this address. It travels unencrypted: only for a gateway on your own
          network.
        </label>
      )}
      {lanServer && (
        <label class="check">
          <input
            type="checkbox"
            id="add-marked-local"
            checked={markedLocal}
            onChange={(e) => setMarkedLocal((e.target as HTMLInputElement).checked)}
          />
          This server is on my own network: count it as local (offline mode may use it, its calls cost nothing).
        </label>
      )}
      <button type="submit" id="add-save">
        Save key
      </button>
      {warnings.map((w) => (
        <p class="warning" key={w}>
          {w}
        </p>
      ))}
    </form>
  );
}

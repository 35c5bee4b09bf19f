import { useEffect, useState } from "preact/hooks";
import { commands, events, type AppEnvironment, type CommandError, type PassphraseProgress, type WorkspaceInfo } from "../bindings";
import { ChangedOutside } from "../components/changed-outside";
import { PageIcon } from "../components/page-icon";
import { ErrorNote } from "../components/error-note";
import { StrengthMeter } from "../components/strength-meter";
import { Agents } from "./agents";
import { Chat, NEW_CHAT, OPEN_AGENT } from "./chat";
import { LOCK_REASON } from "./unlock";
import { isTyping } from "../lib/keyboard";
import { Overview } from "./overview";
import { Local } from "./local";
import { Prices } from "./prices";
import { Privacy } from "./privacy";
import { Proxy } from "./proxy";
import { Usage } from "./usage";
import { Providers } from "./providers";

function when(rfc3339: string | null | undefined): string {
  return rfc3339 ? new Date(rfc3339).toLocaleString() : "never";
}

type Page = "chat" | "overview" | "agents" | "usage" | "providers" | "local" | "proxy" | "privacy" | "prices" | "vault";

const PAGES: [Page, string][] = [
  ["chat", "Chat"],
  ["overview", "Overview"],
  ["agents", "Agents"],
  ["usage", "Usage"],
  ["providers", "Keys"],
  ["local", "Local models"],
  ["proxy", "Proxy"],
  ["privacy", "Privacy"],
  ["prices", "Prices"],
  ["vault", "Vault"],
];

const SIDEBAR = "keyhold.sidebar";

/** Whether the sidebar shows icons only: the user's choice, else folded in a narrow window. */
function sidebarFolded(): boolean {
  const chosen = localStorage.getItem(SIDEBAR);
  if (chosen) return chosen === "icons";
  return typeof window.matchMedia === "function" && window.matchMedia("(max-width: 900px)").matches;
}

export function Home({ info, onLocked }: { info: WorkspaceInfo; onLocked: (i: WorkspaceInfo) => void }) {
  const [icons, setIcons] = useState(sidebarFolded);
  const foldSidebar = (on: boolean) => {
    localStorage.setItem(SIDEBAR, on ? "icons" : "names");
    setIcons(on);
  };
  // Until the user chooses, the sidebar follows the window's width.
  useEffect(() => {
    // A resize listener: WebKitGTK does not always fire a media query's "change".
    const follow = () => {
      if (!localStorage.getItem(SIDEBAR)) setIcons(sidebarFolded());
    };
    window.addEventListener("resize", follow);
    return () => window.removeEventListener("resize", follow);
  }, []);
  // Keyhold opens on Chat; the page the user was on comes back after a lock and unlock.
  const [page, setPageState] = useState<Page>(() => {
    const kept = sessionStorage.getItem("keyhold.page") as Page | null;
    return kept && PAGES.some(([p]) => p === kept) ? kept : "chat";
  });
  const setPage = (p: Page) => {
    sessionStorage.setItem("keyhold.page", p);
    setPageState(p);
  };
  const [env, setEnv] = useState<AppEnvironment | null>(null);
  const [help, setHelp] = useState(false);
  // The Chat page opens a fresh copy of itself: with an agent from the Agents page or the
  // Overview, or a new chat (Ctrl+N).
  const [chatKey, setChatKey] = useState(0);
  const chatWith = (agent: string | null) => {
    if (agent) sessionStorage.setItem(OPEN_AGENT, agent);
    else sessionStorage.setItem(NEW_CHAT, "1");
    setChatKey((k) => k + 1);
    setPage("chat");
  };
  const lock = async () => {
    sessionStorage.setItem(LOCK_REASON, "You locked Keyhold. Proxy requests wait for the passphrase.");
    onLocked(await commands.lock());
  };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const mod = e.ctrlKey || e.metaKey;
      if (mod && !e.altKey && !e.shiftKey && /^[0-9]$/.test(e.key)) {
        const at = e.key === "0" ? 9 : Number(e.key) - 1;
        if (PAGES[at]) {
          e.preventDefault();
          setPage(PAGES[at][0]);
        }
      } else if (mod && !e.shiftKey && e.key.toLowerCase() === "n") {
        e.preventDefault();
        if (page === "chat") window.dispatchEvent(new Event("keyhold:new-chat"));
        else chatWith(null);
      } else if (mod && e.shiftKey && e.key.toLowerCase() === "l") {
        e.preventDefault();
        lock();
      } else if (e.key === "?" && !mod && !isTyping(e.target)) {
        e.preventDefault();
        setHelp((h) => !h);
      } else if (e.key === "Escape" && help) setHelp(false);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [page, help]);
  const [autolock, setAutolock] = useState(() => localStorage.getItem("keyhold.autolock") ?? "0");
  useEffect(() => {
    commands.appEnvironment().then(setEnv);
    const stops = [
      events.offlineChanged.listen(() => commands.appEnvironment().then(setEnv)),
      events.ollamaChanged.listen(() => commands.appEnvironment().then(setEnv)),
    ];
    return () => stops.forEach((s) => s.then((u) => u()));
  }, []);
  // A change outside Keyhold can be found while it runs (the usage ledger's spend shrank): looked
  // for after new ledger rows, at most every two seconds.
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const seen = info.changed_outside.join("\n");
    const stop = events.ledgerChanged.listen(() => {
      if (timer) return;
      timer = setTimeout(async () => {
        timer = null;
        const now = await commands.workspaceInfo();
        if (now.changed_outside.join("\n") !== seen) onLocked(now);
      }, 2000);
    });
    return () => {
      if (timer) clearTimeout(timer);
      stop.then((u) => u());
    };
  }, [info]);
  // Auto-lock: after the chosen minutes without a key press, click or scroll in this window.
  useEffect(() => {
    const minutes = Number(localStorage.getItem("keyhold.autolock") ?? "0");
    if (!minutes) return;
    let last = Date.now();
    const touch = () => (last = Date.now());
    const kinds = ["keydown", "pointerdown", "wheel", "mousemove"];
    kinds.forEach((k) => window.addEventListener(k, touch, { passive: true }));
    const timer = setInterval(async () => {
      if (Date.now() - last >= minutes * 60_000) {
        sessionStorage.setItem(
          LOCK_REASON,
          `Locked after ${minutes} minutes without use of this window (Vault → Lock automatically). Proxy requests wait for the passphrase.`,
        );
        onLocked(await commands.lock());
      }
      // Checked four times per period, at most every 15 s: late by a quarter at worst.
    }, Math.min(15_000, (minutes * 60_000) / 4));
    return () => {
      clearInterval(timer);
      kinds.forEach((k) => window.removeEventListener(k, touch));
    };
  }, [autolock]);
  const ollama = env?.ollama;
  return (
    <div class="shell">
      <a class="skip" href="#main">Skip to the page</a>
      <div class="chrome">
        <header class="topbar">
          <span class="brand">Keyhold</span>
          <span class="badge unlocked" id="status">
            Unlocked
          </span>
          <span id="ollama-badge" class={`badge ${ollama?.running ? "local" : "muted"}`} title={ollama?.problem ?? ""}>
            {ollama ? (ollama.running ? `Ollama ${ollama.version} · ${ollama.models.length} models` : "No local Ollama") : "Ollama…"}
          </span>
          <label class="offline-switch">
            <input
              type="checkbox"
              id="offline-toggle"
              checked={env?.offline ?? false}
              onChange={async (e) => {
                await commands.setOffline((e.target as HTMLInputElement).checked);
                setEnv(await commands.appEnvironment());
              }}
            />
            Offline mode
          </label>
          <button id="lock-button" class="secondary" onClick={lock} title="Lock (Ctrl+Shift+L)">
            Lock
          </button>
        </header>
        {env && !env.tray_available && (
          <p
            class="notice one-line"
            id="no-tray"
            title="No system tray was found on this desktop: Lock, Proxy and Offline mode are here in the window, and closing it quits Keyhold."
          >
            No system tray: Lock, Proxy and Offline mode are here; closing the window quits Keyhold.
          </p>
        )}
        {info.changed_outside.length > 0 && <ChangedOutside info={info} onAccepted={onLocked} />}
        {env?.offline && (
          <p class="notice offline" id="offline-notice">
            Offline mode: agents run on their local steps only. Nothing leaves this machine.
          </p>
        )}
      </div>
      <div class={icons ? "body icons" : "body"}>
      <nav class="sidebar" aria-label="Pages">
        <button
          class="sidebar-toggle"
          id="sidebar-toggle"
          aria-pressed={icons}
          title={icons ? "Show the page names" : "Fold the sidebar to icons"}
          onClick={() => foldSidebar(!icons)}
        >
          <span aria-hidden="true">{icons ? "»" : "«"}</span>
          <span class="label">{icons ? "Show names" : "Fold"}</span>
        </button>
        {PAGES.map(([id, title], i) => (
          <button
            id={`nav-${id}`}
            key={id}
            title={`${title} (Ctrl+${(i + 1) % 10})`}
            aria-label={title}
            class={page === id ? "tab on" : "tab"}
            aria-current={page === id ? "page" : undefined}
            onClick={() => {
              setPage(id);
              document.getElementById("main")?.focus();
            }}
          >
            <PageIcon page={id} />
            <span class="label">{title}</span>
          </button>
        ))}
        <button class="link shortcuts-open" id="shortcuts-open" onClick={() => setHelp(true)} title="Keyboard shortcuts (?)">
          <span class="label">Shortcuts</span>
          <span class="short" aria-hidden="true">?</span>
        </button>
      </nav>
      <main class={page === "chat" ? "page chat-page" : "page"} id="main" tabIndex={-1}>
        {page === "chat" && <Chat key={chatKey} onGetStarted={() => setPage("overview")} />}
        {page === "overview" && <Overview go={setPage} onChat={chatWith} />}
        {page === "agents" && <Agents onChat={chatWith} />}
        {page === "usage" && <Usage />}
        {page === "providers" && <Providers />}
        {page === "local" && <Local />}
        {page === "proxy" && <Proxy />}
        {page === "privacy" && <Privacy />}
        {page === "prices" && <Prices />}
        {page === "vault" && (
          <VaultPage
            info={info}
            tray={env?.tray_available ?? false}
            autolock={autolock}
            onAutolock={(m) => {
              localStorage.setItem("keyhold.autolock", m);
              setAutolock(m);
            }}
          />
        )}
      </main>
      </div>
      {help && <Shortcuts onClose={() => setHelp(false)} />}
    </div>
  );
}

/** Every shortcut, in one place (also on each button's tooltip). */
function Shortcuts({ onClose }: { onClose: () => void }) {
  const rows: [string, string][] = [
    ...PAGES.map(([, title], i): [string, string] => [`Ctrl+${(i + 1) % 10}`, title]),
    ["Ctrl+N", "New chat"],
    ["/", "Type a message (on Chat)"],
    ["Enter · Shift+Enter", "Send · new line"],
    ["Esc", "Stop the answer"],
    ["Ctrl+Shift+L", "Lock"],
    ["?", "These shortcuts"],
  ];
  return (
    <div class="dialog-backdrop" onClick={onClose}>
      <div class="card dialog" role="dialog" aria-modal="true" aria-labelledby="shortcuts-title" id="shortcuts" onClick={(e) => e.stopPropagation()}>
        <h2 id="shortcuts-title">Keyboard shortcuts</h2>
        <p class="fine">On a Mac, ⌘ works wherever Ctrl is written.</p>
        <dl class="shortcut-list">
          {rows.map(([k, what]) => (
            <div key={k}>
              <dt>
                <kbd>{k}</kbd>
              </dt>
              <dd>{what}</dd>
            </div>
          ))}
        </dl>
        <button class="secondary" ref={(el) => el?.focus()} onClick={onClose}>
          Close
        </button>
      </div>
    </div>
  );
}

function VaultPage({
  info,
  tray,
  autolock,
  onAutolock,
}: {
  info: WorkspaceInfo;
  tray: boolean;
  autolock: string;
  onAutolock: (m: string) => void;
}) {
  return (
    <>
        <section class="card wide">
          <h2>Vault</h2>
          <dl>
            <dt>Data folder</dt>
            <dd id="data-dir">{info.data_dir}</dd>
            <dt>Created</dt>
            <dd>{when(info.vault_created_at)}</dd>
            <dt>Last unlocked</dt>
            <dd>{when(info.last_unlocked_at)}</dd>
          </dl>
          <p class="fine">
            {tray
              ? "Closing this window keeps Keyhold in the tray (Open, Lock, Quit)."
              : "This desktop shows no tray icons: closing this window quits Keyhold (and stops its proxy)."}
          </p>
          <Autostart />
          <label class="row-label" id="autolock-label">
            Lock automatically after
            <select id="autolock" value={autolock} onChange={(e) => onAutolock((e.target as HTMLSelectElement).value)}>
              <option value="0">never</option>
              <option value="5">5 minutes</option>
              <option value="15">15 minutes</option>
              <option value="30">30 minutes</option>
              <option value="60">1 hour</option>
            </select>
            without use of this window
          </label>
          <p class="fine">A locked Keyhold answers no proxy request until you unlock it again.</p>
        </section>
        <ChangePassphrase />
    </>
  );
}

function ChangePassphrase() {
  const [current, setCurrent] = useState("");
  const [replacement, setReplacement] = useState("");
  const [confirm, setConfirm] = useState("");
  const [rotate, setRotate] = useState(false);
  const [error, setError] = useState<CommandError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // The step under way (each takes about a second: a key derivation, the vault file written).
  const [step, setStep] = useState<PassphraseProgress | null>(null);
  useEffect(() => {
    const stop = events.passphraseProgress.listen((e) => setStep(e.payload));
    return () => {
      stop.then((u) => u());
    };
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setStep(null);
    setError(null);
    setDone(null);
    const result = await commands.changePassphrase(current, replacement, confirm, rotate);
    setBusy(false);
    setStep(null);
    if (result.status === "ok") {
      setDone(
        rotate
          ? "Passphrase changed and master secret replaced: every key was re-sealed. Use the new passphrase from now on."
          : "Passphrase changed. Use the new one from now on.",
      );
      setRotate(false);
      setCurrent("");
      setReplacement("");
      setConfirm("");
    } else {
      setError(result.error);
    }
  };

  const field = (id: string, label: string, value: string, set: (v: string) => void, auto: string) => (
    <label>
      {label}
      <input
        id={id}
        type="password"
        autocomplete={auto}
        value={value}
        onInput={(e) => set((e.target as HTMLInputElement).value)}
      />
    </label>
  );

  return (
    <form class="card wide" onSubmit={submit} id="change-passphrase">
      <h2>Change passphrase</h2>
      {field("current-passphrase", "Current passphrase", current, setCurrent, "current-password")}
      {field("replacement-passphrase", "New passphrase", replacement, setReplacement, "new-password")}
      <StrengthMeter passphrase={replacement} />
      {field("replacement-confirm", "Type the new one again", confirm, setConfirm, "new-password")}
      <label class="check">
        <input
          type="checkbox"
          id="rotate-master"
          checked={rotate}
          onChange={(e) => setRotate((e.target as HTMLInputElement).checked)}
        />
        Also replace the master secret: every key is re-sealed, so an old copy of the vault with the old passphrase
        opens nothing. Use it if an old passphrase or vault file may have leaked.
      </label>
      <ErrorNote error={error} />
      {done && (
        <p class="ok" role="status" id="changed">
          {done}
        </p>
      )}
      {busy && step && (
        <div class="progress-line" role="status" id="change-progress">
          <progress value={step.step - 0.5} max={step.of} />
          <span>
            Step {step.step} of {step.of}: {step.words}…
          </span>
        </div>
      )}
      <button type="submit" id="change-button" disabled={busy}>
        {busy ? "Changing…" : "Change passphrase"}
      </button>
    </form>
  );
}

function Autostart() {
  const [on, setOn] = useState<boolean | null>(null);
  const [error, setError] = useState<CommandError | null>(null);
  useEffect(() => {
    commands.appEnvironment().then((e) => setOn(e.autostart));
  }, []);
  return (
    <>
      <label class="offline-switch">
        <input
          type="checkbox"
          id="autostart"
          checked={on ?? false}
          onChange={async (e) => {
            const r = await commands.setAutostart((e.target as HTMLInputElement).checked);
            if (r.status === "ok") setOn(r.data);
            else setError(r.error);
          }}
        />
        Start Keyhold when I log in
      </label>
      <ErrorNote error={error} />
    </>
  );
}


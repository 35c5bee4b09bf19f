// The window shows the core's state and calls its commands; it holds no rules of its own.
import { useEffect, useState } from "preact/hooks";
import { commands, events, type VaultStatus, type WorkspaceInfo } from "./bindings";
import { FirstRun } from "./screens/first-run";
import { Unlock } from "./screens/unlock";
import { Home } from "./screens/home";
import { TrayNotice } from "./components/tray-notice";

export function App() {
  const [info, setInfo] = useState<WorkspaceInfo | null>(null);
  const [status, setStatus] = useState<VaultStatus | null>(null);

  const refresh = async () => {
    const next = await commands.workspaceInfo();
    setInfo(next);
    setStatus(next.status);
  };

  useEffect(() => {
    refresh().then(() => requestAnimationFrame(() => commands.frontendReady()));
    // Locking from the tray (or anywhere else) reaches the window through this event.
    const stop = events.vaultChanged.listen((e) => {
      setStatus(e.payload.status);
      refresh();
    });
    return () => {
      stop.then((unlisten) => unlisten());
    };
  }, []);

  if (!info || !status) return <main class="center" aria-busy="true">Loading…</main>;
  const done = (next: WorkspaceInfo) => {
    setInfo(next);
    setStatus(next.status);
  };
  const screen = () => {
    switch (status) {
      case "no_vault":
        return <FirstRun dataDir={info.data_dir} onCreated={done} />;
      case "locked":
        return <Unlock onUnlocked={done} />;
      case "unlocked":
        return <Home info={info} onLocked={done} />;
    }
  };
  return (
    <>
      <TrayNotice />
      {screen()}
    </>
  );
}

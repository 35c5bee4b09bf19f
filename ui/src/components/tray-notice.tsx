import { useEffect, useState } from "preact/hooks";
import { events, type TrayFailed } from "../bindings";

/** What the tray could not do (its menu has nowhere to say it): the window comes to the front
 * with the reason, until the user closes the note. */
export function TrayNotice() {
  const [failed, setFailed] = useState<TrayFailed | null>(null);
  useEffect(() => {
    const stop = events.trayFailed.listen((e) => setFailed(e.payload));
    return () => {
      stop.then((unlisten) => unlisten());
    };
  }, []);
  if (!failed) return null;
  return (
    <p class="notice tray-failed" role="alert" id="tray-failed">
      {failed.action} from the tray did not work: {failed.error.message}{" "}
      <button class="secondary" onClick={() => setFailed(null)}>
        Close
      </button>
    </p>
  );
}

import type { CommandError, ErrorKind } from "../bindings";

/** How an error reads: something the user typed or chose ("input"), a state to change first
 * ("state": locked, over budget, offline), or a fault in a file, the network or Keyhold itself.
 * Exhaustive: a kind added in Rust does not compile here until it is placed. */
export function errorTone(kind: ErrorKind): "input" | "state" | "fault" {
  switch (kind) {
    case "wrong_passphrase":
    case "bad_passphrase":
    case "bad_key_input":
    case "bad_agent_input":
    case "bad_price":
    case "bad_range":
    case "bad_origin":
    case "empty_prompt":
    case "usage":
    case "input":
    case "no_passphrase":
    case "key_not_found":
    case "agent_not_found":
    case "vault_exists":
    case "cancelled":
      return "input";
    case "no_vault":
    case "locked":
    case "already_unlocked":
    case "already_running":
    case "key_inactive":
    case "budget_reached":
    case "offline_no_local":
    case "privacy_blocked":
    case "refused":
      return "state";
    case "vault_damaged":
    case "vault_incomplete":
    case "interrupted_change":
    case "write_failed":
    case "data_dir":
    case "database":
    case "key_tampered":
    case "changed_outside_keyhold":
    case "key_test_failed":
    case "all_steps_failed":
    case "stream_broken":
    case "autostart":
    case "export":
    case "window":
    case "proxy":
    case "ollama_unavailable":
    case "internal":
      return "fault";
    default: {
      const unplaced: never = kind;
      return unplaced;
    }
  }
}

/** A rejection that is not a `CommandError` (Tauri refusing the arguments before the command
 * runs throws a bare string) still reads as an error with a kind, never as an empty note. */
export function asCommandError(e: unknown): CommandError {
  if (e && typeof e === "object" && "kind" in e && "message" in e) return e as CommandError;
  return { kind: "internal", message: typeof e === "string" && e ? e : "Keyhold could not run that command." } as CommandError;
}

/** Shows a command's error message as the core wrote it. */
export function ErrorNote({ error: given }: { error: CommandError | null }) {
  if (!given) return null;
  const error = asCommandError(given);
  return (
    <p class="error" role="alert" id="error" data-kind={error.kind} data-tone={errorTone(error.kind)}>
      {error.message}
    </p>
  );
}

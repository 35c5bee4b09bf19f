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

/** Shows a command's error message as the core wrote it. */
export function ErrorNote({ error }: { error: CommandError | null }) {
  if (!error) return null;
  return (
    <p class="error" role="alert" id="error" data-kind={error.kind} data-tone={errorTone(error.kind)}>
      {error.message}
    </p>
  );
}

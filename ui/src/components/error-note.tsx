import type { CommandError } from "../bindings";

/** Shows a command's error message as the core wrote it. */
export function ErrorNote({ error }: { error: CommandError | null }) {
  if (!error) return null;
  return (
    <p class="error" role="alert" id="error" data-kind={error.kind}>
      {error.message}
    </p>
  );
}

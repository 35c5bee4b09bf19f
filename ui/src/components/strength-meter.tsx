import { useEffect, useState } from "preact/hooks";
import { commands, type Strength } from "../bindings";

/** The core rates the passphrase; this only draws the rating. */
export function StrengthMeter({ passphrase }: { passphrase: string }) {
  const [strength, setStrength] = useState<Strength | null>(null);
  useEffect(() => {
    if (!passphrase) {
      setStrength(null);
      return;
    }
    let current = true;
    commands.passphraseStrength(passphrase).then((s) => current && setStrength(s));
    return () => {
      current = false;
    };
  }, [passphrase]);
  if (!strength) return <p class="hint" id="strength">Use a long phrase of unrelated words.</p>;
  return (
    <p class={`hint strength-${strength.level}`} id="strength" data-level={strength.level}>
      <span class="meter" aria-hidden="true" />
      {strength.hint}
    </p>
  );
}

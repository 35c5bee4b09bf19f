// The sidebar's page icons: small line drawings (inline SVG, nothing fetched), so the sidebar can
// fold to icons in a narrow window and still say where each button goes (its title and label).

const PATHS: Record<string, string> = {
  chat: "M4 5h16v10H9l-5 4z",
  overview: "M4 4h7v7H4zM13 4h7v7h-7zM4 13h7v7H4zM13 13h7v7h-7z",
  agents: "M12 3a4 4 0 1 1 0 8a4 4 0 0 1 0-8zM4 21c0-4 4-6 8-6s8 2 8 6",
  usage: "M5 20V10M12 20V4M19 20v-7M3 20h18",
  providers: "M8 14a4 4 0 1 1 3.5-6H21v4h-2v2h-3v-2h-4.5A4 4 0 0 1 8 14z",
  local: "M4 5h16v11H4zM8 20h8M12 16v4",
  proxy: "M4 8h13l-3-3M20 16H7l3 3",
  privacy: "M12 3l8 3v6c0 5-4 8-8 9c-4-1-8-4-8-9V6z",
  prices: "M3 12l9-9h8v8l-9 9zM16 7.5a.5.5 0 1 0 .01 0",
  vault: "M6 11h12v10H6zM8 11V8a4 4 0 0 1 8 0v3",
};

export function PageIcon({ page }: { page: string }) {
  return (
    <svg class="page-icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">
      <path d={PATHS[page] ?? ""} />
    </svg>
  );
}

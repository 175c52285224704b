import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { useRoute } from "./hooks";
import { connect, onConnection } from "./live";
import "./styles.css";
import { AgentsView } from "./views/agents";
import { BotsView } from "./views/bots";
import { OverviewView } from "./views/overview";
import { ProcessesView } from "./views/processes";
import { TasksView } from "./views/tasks";

const NAV = [
  ["overview", "Overview"],
  ["agents", "Agents"],
  ["tasks", "Tasks"],
  ["processes", "Processes"],
  ["bots", "Bots"],
] as const;

function LiveBadge() {
  const [on, setOn] = useState(false);
  useEffect(() => onConnection(setOn), []);
  return (
    <span class={`live ${on ? "on" : "off"}`} data-testid="live">
      {on ? "● live" : "○ reconnecting…"}
    </span>
  );
}

function App() {
  const { view, params } = useRoute();
  useEffect(() => connect(), []);
  return (
    <div class="shell">
      <aside>
        <div class="brand">
          <span class="brand-mark">▣</span> VMDocker
        </div>
        <nav>
          {NAV.map(([id, label]) => (
            <a key={id} href={`#/${id}`} class={view === id ? "on" : ""} data-testid={`nav-${id}`}>
              {label}
            </a>
          ))}
        </nav>
        <form method="post" action="/logout" class="logout">
          <button type="submit">Sign out</button>
        </form>
      </aside>
      <main>
        <header>
          <LiveBadge />
        </header>
        {view === "agents" ? (
          <AgentsView params={params} />
        ) : view === "tasks" ? (
          <TasksView params={params} />
        ) : view === "processes" ? (
          <ProcessesView />
        ) : view === "bots" ? (
          <BotsView />
        ) : (
          <OverviewView />
        )}
      </main>
    </div>
  );
}

render(<App />, document.getElementById("app")!);

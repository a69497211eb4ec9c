using Bridge.Interop.SubInterpreters;

namespace Bridge;

// Design notes: a spare is one fresh, bootstrapped sub-interpreter parked on its own background thread (at most
// one per process), made after a pool has started (InterpreterPoolOptions.UseSpare). The next pool adopts it as a
// worker instead of creating an interpreter, so that worker's start-up is a hand-over (the ~5 ms of CPython's
// Py_NewInterpreterFromConfig, and 2.5 ms of importing os, were paid earlier, off the caller's path), and leaves
// a new spare behind. A spare
// has never run user code: the adopting pool sets its sys.path (_db_set_path) and runs its initializer on it,
// exactly what a new worker gets. A spare never adopted lives until the process exits (a background thread;
// the runtime never finalizes Python).
public sealed partial class InterpreterPool
{
    internal sealed class Spare
    {
        private static readonly object s_lock = new();
        private static Spare? s_current; // starting or ready, not yet taken
        private static int s_adopted;
        private readonly ManualResetEventSlim _assigned = new(false);
        private Action<SubInterpreter>? _work;
        private volatile bool _ready;

        private Spare()
        {
            Thread = new Thread(Run) { IsBackground = true, Name = "dotbridge interpreter (spare)" };
        }

        internal Thread Thread { get; }

        /// <summary>How many spares pools have adopted (tests).</summary>
        internal static int Adopted => Volatile.Read(ref s_adopted);

        /// <summary>True when a spare is ready to be adopted (tests).</summary>
        internal static bool IsReady
        {
            get
            {
                lock (s_lock) return s_current is { _ready: true };
            }
        }

        /// <summary>Takes the spare if it is ready (a spare still starting is left to finish for a later pool).</summary>
        internal static Spare? TryTake()
        {
            lock (s_lock)
            {
                if (s_current is not { _ready: true } spare) return null;
                s_current = null;
                Interlocked.Increment(ref s_adopted);
                return spare;
            }
        }

        /// <summary>Starts making a spare unless one exists (ready or starting).</summary>
        internal static void Ensure()
        {
            Spare spare;
            lock (s_lock)
            {
                if (s_current is not null) return;
                s_current = spare = new Spare();
            }
            using (ExecutionContext.SuppressFlow()) spare.Thread.Start();
        }

        /// <summary>Hands the taken spare its worker's life (runs on the spare's own thread, which owns the interpreter).</summary>
        internal void Assign(Action<SubInterpreter> work)
        {
            _work = work;
            _assigned.Set();
        }

        private void Run()
        {
            SubInterpreter interp;
            try
            {
                interp = SubInterpreter.Create();
            }
            catch (Exception e) when (e is InvalidOperationException or PlatformNotSupportedException)
            {
                lock (s_lock)
                {
                    if (s_current == this) s_current = null; // no spare then: pools create their workers
                }
                return;
            }
            // Off the caller's path, also import what nearly every task's module imports (and what `site` would have
            // imported): about 2.5 ms in a fresh interpreter. Bound to no name, so __main__ stays as a new worker's.
            interp.Exec("__import__('os')\n", out _);
            _ready = true;
            _assigned.Wait();
            _work!(interp);
        }
    }
}

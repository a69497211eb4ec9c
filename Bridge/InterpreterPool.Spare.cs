using Bridge.Interop.SubInterpreters;

namespace Bridge;

// Design notes: a spare is one fresh, bootstrapped sub-interpreter parked on its own background thread, made after
// a pool has started (InterpreterPoolOptions.UseSpare); the process keeps as many as the last such pool had workers
// (at most one per CPU), made one after another. The next pool adopts it as a
// worker instead of creating an interpreter, so that worker's start-up is a hand-over (the ~5 ms of CPython's
// Py_NewInterpreterFromConfig, and 2.5 ms of importing os, were paid earlier, off the caller's path), and leaves
// new spares behind. A spare
// has never run user code: the adopting pool sets its sys.path (_db_set_path) and runs its initializer on it,
// exactly what a new worker gets. A spare never adopted lives until the process exits (a background thread;
// the runtime never finalizes Python).
public sealed partial class InterpreterPool
{
    internal sealed class Spare
    {
        private static readonly object s_lock = new();
        private static readonly List<Spare> s_ready = []; // made, parked, not yet taken
        private static bool s_starting;                    // one spare is being made (one at a time: one core)
        private static int s_target;                       // how many to keep: the last pool's size, at most the CPUs
        private static int s_adopted;
        private readonly ManualResetEventSlim _assigned = new(false);
        private readonly ManualResetEventSlim _go = new(false);
        private Action<SubInterpreter>? _work;

        private Spare()
        {
            Thread = new Thread(Run) { IsBackground = true, Name = "dotbridge interpreter (spare)" };
        }

        internal Thread Thread { get; }

        /// <summary>How many spares pools have adopted (tests).</summary>
        internal static int Adopted => Volatile.Read(ref s_adopted);

        /// <summary>How many spares are ready, and whether one is being made (tests).</summary>
        internal static (int Ready, bool Starting) Count
        {
            get
            {
                lock (s_lock) return (s_ready.Count, s_starting);
            }
        }

        /// <summary>Takes a ready spare (a spare still starting is left to finish for a later pool).</summary>
        internal static Spare? TryTake()
        {
            lock (s_lock)
            {
                if (s_ready.Count == 0) return null;
                var spare = s_ready[^1];
                s_ready.RemoveAt(s_ready.Count - 1);
                Interlocked.Increment(ref s_adopted);
                return spare;
            }
        }

        /// <summary>Keeps <paramref name="count"/> spares (at most one per CPU): makes the missing ones one after
        /// another, each on its own background thread.</summary>
        internal static void Ensure(int count)
        {
            lock (s_lock)
            {
                s_target = Math.Clamp(count, 1, Environment.ProcessorCount);
                StartNextLocked();
            }
        }

        private static void StartNextLocked()
        {
            if (s_starting || s_ready.Count >= s_target) return;
            s_starting = true;
            var spare = new Spare();
            using (ExecutionContext.SuppressFlow()) spare.Thread.Start();
            // The new thread waits for this: starting a thread that computes at once returns 3-4 ms late (the
            // starter queues on the busy CPU), which a pool's constructor would pay (Interop/SubInterpreters/README.md).
            spare._go.Set();
        }

        /// <summary>Hands the taken spare its worker's life (runs on the spare's own thread, which owns the interpreter).</summary>
        internal void Assign(Action<SubInterpreter> work)
        {
            _work = work;
            _assigned.Set();
        }

        private void Run()
        {
            _go.Wait();
            SubInterpreter interp;
            try
            {
                interp = SubInterpreter.Create();
            }
            catch (Exception e) when (e is InvalidOperationException or PlatformNotSupportedException)
            {
                lock (s_lock)
                {
                    s_starting = false;
                    s_target = 0; // no spares then: pools create their workers
                }
                return;
            }
            // Off the caller's path, also import what nearly every task's module imports (and what `site` would have
            // imported): about 2.5 ms in a fresh interpreter. Bound to no name, so __main__ stays as a new worker's.
            interp.Exec("__import__('os')\n", out _);
            lock (s_lock)
            {
                s_starting = false;
                s_ready.Add(this);
                StartNextLocked();
            }
            _assigned.Wait();
            _work!(interp);
        }
    }
}

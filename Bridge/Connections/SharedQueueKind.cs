namespace Bridge.Connections;

/// <summary>Which Python queue a <see cref="SharedQueue"/> is (the <c>kind=</c> field of its spec).</summary>
public enum SharedQueueKind
{
    /// <summary><c>dotbridge.Queue</c> (<c>multiprocessing.Queue</c>): a size semaphore, <c>qsize</c>, optional <c>maxsize</c>.</summary>
    Queue = 0,

    /// <summary><c>dotbridge.JoinableQueue</c>: a Queue plus <c>task_done</c>/<c>join</c>.</summary>
    Joinable = 1,

    /// <summary><c>dotbridge.SimpleQueue</c>: a locked pipe (no size, no timeouts in Python).</summary>
    Simple = 2,
}

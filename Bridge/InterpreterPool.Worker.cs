using Bridge.Interop.SubInterpreters;

namespace Bridge;

// Design notes: one worker = one dedicated background thread that creates its sub-interpreter, takes chunks
// from the shared queue (FIFO across calls) until the queue is completed, then ends the interpreter. A chunk's
// calls run one after another; the first call that raises fails the whole chunk (stdlib map semantics) with
// its index. Arguments arrive MessagePack-encoded (encoded by the caller, so a bad argument fails at submit)
// and are decoded to plain values here; results are encoded here and decoded by the caller to TResult.
public sealed partial class InterpreterPool
{
    private void WorkerLoop(List<string> sysPath, string? executable, string? initializer, TaskCompletionSource ready)
    {
        SubInterpreter interp;
        try
        {
            interp = SubInterpreter.Create(sysPath, executable);
        }
        catch (Exception e) when (e is InvalidOperationException or PlatformNotSupportedException)
        {
            ready.TrySetException(new BrokenPoolException("an interpreter worker could not start: " + e.Message, e));
            return;
        }
        RunWorker(interp, null, initializer, ready);
    }

    /// <summary>A worker's life on its thread once its interpreter exists: sets <paramref name="sysPath"/> (when
    /// adopting a spare, made before this pool's path was known), runs the initializer, serves the queue, and ends
    /// the interpreter.</summary>
    private void RunWorker(SubInterpreter interp, (List<string> Path, string? Executable)? sysPath, string? initializer, TaskCompletionSource ready)
    {
        try
        {
            if (sysPath is { } adopt)
            {
                object? error = interp.Call("__main__:_db_set_path", [adopt.Path.Cast<object?>().ToArray(), adopt.Executable], out bool raised);
                if (raised)
                {
                    ready.TrySetException(new BrokenPoolException("an interpreter worker could not start: " + ErrorFromMap(error, null).Message));
                    return;
                }
            }
            if (initializer is not null)
            {
                object? error = interp.Exec(initializer, out bool raised);
                if (raised)
                {
                    var cause = ErrorFromMap(error, null);
                    ready.TrySetException(new BrokenPoolException(
                        $"the interpreter workers' initializer raised {(cause as PythonException)?.PythonTypeName}: {cause.Message}",
                        cause is RemoteInvocationException r ? r.RemoteType : "", cause is RemoteInvocationException r2 ? r2.RemoteStackTrace : "", cause));
                    return;
                }
            }
            ready.TrySetResult();
            foreach (var item in _queue.GetConsumingEnumerable())
            {
                if (!item.TryStart())
                {
                    continue; // cancelled or failed (disposal) before it started
                }
                _running.TryAdd(item, 0);
                if (Volatile.Read(ref _disposed) != 0)
                {
                    item.Fail(Disposed()); // Dispose may have listed _running before this item was added
                }
                try
                {
                    RunItem(interp, item);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Converts to this call's failure (as a worker's ERROR frame would): an unexpected exception
                    // (a value too large for .NET, say) must fail the call, not end this thread and the process.
                    item.Fail(new PythonException("builtins.SystemError", "interpreter worker: " + e.Message, e.ToString(), "raised", item.FirstIndex, null));
                }
                finally
                {
                    _running.TryRemove(item, out _);
                }
            }
        }
        finally
        {
            interp.Dispose();
        }
    }

    private static void RunItem(SubInterpreter interp, WorkItem item)
    {
        var results = new byte[item.Calls.Length][];
        for (int i = 0; i < item.Calls.Length; i++)
        {
            if (item.Task.IsCompleted) return; // disposal failed it meanwhile: drop the rest
            object?[] args;
            try
            {
                args = MsgPackValues.DeserializeObject(item.Calls[i]) as object?[] ?? [];
            }
            catch (ValueConversionException e)
            {
                item.Fail(e);
                return;
            }
            object? value = interp.Call(item.Target, args, out bool raised);
            if (raised)
            {
                item.Fail(ErrorFromMap(value, item.FirstIndex + i));
                return;
            }
            try
            {
                results[i] = MsgPackValues.Serialize(value);
            }
            catch (ValueConversionException e)
            {
                item.Fail(new PythonException("builtins.TypeError", "the result could not be encoded: " + e.Message, "", "result", item.FirstIndex + i, null));
                return;
            }
        }
        item.Succeed(results);
    }

    /// <summary>A sub-interpreter's error map as the exception process workers would give (ProcessPool.RemoteErrorFromMap).</summary>
    private static Exception ErrorFromMap(object? map, int? index)
    {
        var converted = ToStringKeys(map as Dictionary<object, object?>, 0);
        if (converted is not null && index is not null) converted["index"] = (long)index.Value;
        return ProcessPool.RemoteErrorFromMap(converted, TargetKind.Python);
    }

    private static Dictionary<string, object?>? ToStringKeys(Dictionary<object, object?>? map, int depth)
    {
        if (map is null) return null;
        var result = new Dictionary<string, object?>();
        foreach (var (k, v) in map)
        {
            result[k.ToString() ?? ""] = v is Dictionary<object, object?> inner && depth < 32 ? ToStringKeys(inner, depth + 1) : v;
        }
        return result;
    }

    /// <summary>One chunk: its calls, and the task that completes with their encoded results.</summary>
    private sealed class WorkItem
    {
        private readonly TaskCompletionSource<byte[][]> _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly CancellationTokenRegistration _registration;
        private int _started;

        internal WorkItem(string target, byte[][] calls, int firstIndex, CancellationToken cancellationToken)
        {
            Target = target;
            Calls = calls;
            FirstIndex = firstIndex;
            if (cancellationToken.CanBeCanceled)
            {
                _registration = cancellationToken.Register(() =>
                {
                    // Not started yet: it never will be. Started: it finishes in its worker and its result is dropped.
                    Interlocked.Exchange(ref _started, 1);
                    _tcs.TrySetCanceled(cancellationToken);
                });
            }
        }

        internal string Target { get; }
        internal byte[][] Calls { get; }
        internal int FirstIndex { get; }
        internal Task<byte[][]> Task => _tcs.Task;

        /// <summary>Claims the item for a worker; false when it was cancelled or failed first.</summary>
        internal bool TryStart() => Interlocked.Exchange(ref _started, 1) == 0 && !_tcs.Task.IsCompleted;

        internal void Succeed(byte[][] results)
        {
            _tcs.TrySetResult(results);
            _registration.Dispose();
        }

        internal void Fail(Exception e)
        {
            _tcs.TrySetException(e);
            _registration.Dispose();
        }
    }
}

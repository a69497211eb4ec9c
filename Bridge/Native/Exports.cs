using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Bridge.Internal;
using Bridge.Protocol;
using MessagePack;

namespace Bridge.Native;

/// <summary>
/// The C ABI of <c>libdotbridge.so</c> (ABI.md "C ABI") over <see cref="PoolCore"/>; mirrored by
/// <c>python/dotbridge/_native.py</c>. Keep the two in sync.
/// </summary>
/// <remarks>
/// <para>Every function returns an <c>int</c>: 0 ok, 1 timeout, 2 no more/ended, negative an error
/// whose message <c>db_last_error</c> returns for the calling thread (-1 runtime error, -2 bad
/// argument (ValueError), -3 invalid operation in this state, -4 disposed). Nothing throws across
/// the boundary. Handles are int64. Timeouts are seconds as double, negative meaning forever.
/// Buffers handed out are <c>NativeMemory.Alloc</c>ated; the caller frees them with <c>db_free</c>.</para>
/// <para>Signatures:</para>
/// <code>
/// int   db_pool_create(const uint8_t* options_msgpack, int64 len, int64* pool)
/// int   db_pool_destroy(int64 pool)
/// int   db_submit(int64 pool, int kind, int encoding, const char* target_or_null, int n,
///                 const uint8_t** payloads, const int64* lens, const int* counts, int flags, int64* job)
/// int   db_submit1(int64 pool, int kind, int encoding, const char* target_or_null,
///                  const uint8_t* payload, int64 len, int count, int flags, int64* job)
/// int   db_call1(int64 pool, int kind, int encoding, const char* target_or_null, const uint8_t* payload,
///                int64 len, int count, double timeout, int* status, uint8_t** buf, int64* len_out)
///                // submit1 + wait + its one result + release, in one call (the apply fast path);
///                // 1 timeout: the job is cancelled/released and nothing is returned
/// int   db_open_job(int64 pool, int kind, int encoding, const char* target_or_null, int flags, int64* job)
/// int   db_add_chunk(int64 pool, int64 job, const uint8_t* payload, int64 len, int count)
/// int   db_seal(int64 pool, int64 job)
/// int   db_wait(int64 pool, int64 job, double timeout)            // 0 ready, 1 timeout
/// int   db_ready(int64 pool, int64 job)                            // 1 ready, 0 not
/// int   db_results(int64 pool, int64 job, uint8_t** buf, int64* len) // msgpack [status0, bin0, status1, bin1, ...]
/// int   db_next(int64 pool, int64 job, double timeout, int64* index, int* status, uint8_t** buf, int64* len) // 0, 1 timeout, 2 ended
/// int   db_next_batch(int64 pool, int64 job, double timeout, int max, uint8_t** buf, int64* len)
///                // like db_next, then up to max-1 more already available: msgpack [index, status, bin, ...]
/// int   db_cancel(int64 pool, int64 job)                           // 1 if nothing had been dispatched, else 0
/// int   db_release(int64 pool, int64 job)
/// int   db_next_notification(int64 pool, double timeout, int64* job) // 0, 1 timeout, 2 pool ended
/// int   db_chunksize(int64 pool, int64 n, int64* chunksize)
/// int   db_workers(int64 pool, int kind, uint8_t** buf, int64* len)  // msgpack [{pid, alive, tasks, ready}, ...]
/// int   db_close(int64 pool)   int db_terminate(int64 pool)   int db_join(int64 pool, double timeout) // 0, 1 timeout
/// int   db_info(int64 pool, uint8_t** buf, int64* len)             // msgpack map
/// int   db_worker_exited(int64 handle, int code)  // interpreter workers: the host reports a worker's exit code
///                                                   // (before closing its result pipe); see ABI.md "Interpreter workers"
/// int   db_hosted_workers(int64 pool, uint8_t** buf, int64* len)  // msgpack [handle, ...] of live interpreter workers
/// int   db_interrupt_interpreter(int64 interp_id, uint64 thread_ident) // SystemExit in a busy interpreter worker: 1 set, 0 not found
/// char* db_last_error(void)     // NUL-terminated UTF-8 or NULL; free with db_free
/// void  db_free(void* p)
/// </code>
/// <para>kind: 0 python, 1 dotnet. flags: 1 failfast, 2 notify, 4 unordered.</para>
/// </remarks>
public static unsafe class Exports
{
    private const int Ok = 0, Timeout = 1, Ended = 2;
    private const int ErrRuntime = -1, ErrArgument = -2, ErrState = -3, ErrDisposed = -4;
    private const int FlagFailFast = 1, FlagNotify = 2, FlagUnordered = 4;

    private static readonly ConcurrentDictionary<long, PoolCore> s_pools = new();
    private static long s_nextPool;

    [ThreadStatic]
    private static string? t_lastError;

    [UnmanagedCallersOnly(EntryPoint = "db_pool_create", CallConvs = [typeof(CallConvCdecl)])]
    public static int PoolCreate(byte* options, long len, long* pool)
    {
        try
        {
            var opts = NativeOptions.Parse(new ReadOnlySpan<byte>(options, checked((int)len)).ToArray());
            var core = new PoolCore(opts);
            long id = Interlocked.Increment(ref s_nextPool);
            s_pools[id] = core;
            *pool = id;
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code: nothing may cross the C boundary
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_pool_destroy", CallConvs = [typeof(CallConvCdecl)])]
    public static int PoolDestroy(long pool)
    {
        try
        {
            if (s_pools.TryRemove(pool, out var core))
                core.Dispose();
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_submit", CallConvs = [typeof(CallConvCdecl)])]
    public static int Submit(long pool, int kind, int encoding, byte* target, int n, byte** payloads, long* lens, int* counts, int flags, long* job)
    {
        try
        {
            var core = Get(pool);
            var chunks = new (ReadOnlyMemory<byte>, int)[n];
            for (int i = 0; i < n; i++)
                chunks[i] = (new ReadOnlySpan<byte>(payloads[i], checked((int)lens[i])).ToArray(), counts[i]);
            *job = core.Submit(Kind(kind), Encoding(encoding), Str(target), chunks,
                (flags & FlagFailFast) != 0, (flags & FlagNotify) != 0, (flags & FlagUnordered) == 0);
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_submit1", CallConvs = [typeof(CallConvCdecl)])]
    public static int Submit1(long pool, int kind, int encoding, byte* target, byte* payload, long len, int count, int flags, long* job)
    {
        try
        {
            var core = Get(pool);
            *job = core.SubmitOne(Kind(kind), Encoding(encoding), Str(target), new ReadOnlySpan<byte>(payload, checked((int)len)).ToArray(), count,
                (flags & FlagFailFast) != 0, (flags & FlagNotify) != 0);
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_call1", CallConvs = [typeof(CallConvCdecl)])]
    public static int Call1(long pool, int kind, int encoding, byte* target, byte* payload, long len, int count, double timeout,
        int* status, byte** buf, long* lenOut)
    {
        try
        {
            var core = Get(pool);
            long job = core.SubmitOne(Kind(kind), Encoding(encoding), Str(target), new ReadOnlySpan<byte>(payload, checked((int)len)).ToArray(), count,
                failfast: true, notify: false);
            try
            {
                if (!core.Wait(job, Span(timeout)))
                {
                    core.Cancel(job);
                    return Timeout;
                }
                var results = core.Results(job);
                *status = results[0].Status;
                Hand(results[0].Payload.Span, buf, lenOut);
                return Ok;
            }
            finally
            {
                core.Release(job);
            }
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_open_job", CallConvs = [typeof(CallConvCdecl)])]
    public static int OpenJob(long pool, int kind, int encoding, byte* target, int flags, long* job)
    {
        try
        {
            *job = Get(pool).OpenJob(Kind(kind), Encoding(encoding), Str(target), (flags & FlagUnordered) == 0, (flags & FlagNotify) != 0, (flags & FlagFailFast) != 0);
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_add_chunk", CallConvs = [typeof(CallConvCdecl)])]
    public static int AddChunk(long pool, long job, byte* payload, long len, int count)
    {
        try
        {
            Get(pool).AddChunk(job, new ReadOnlySpan<byte>(payload, checked((int)len)).ToArray(), count);
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_seal", CallConvs = [typeof(CallConvCdecl)])]
    public static int Seal(long pool, long job)
    {
        try
        {
            Get(pool).Seal(job);
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_wait", CallConvs = [typeof(CallConvCdecl)])]
    public static int Wait(long pool, long job, double timeout)
    {
        try
        {
            return Get(pool).Wait(job, Span(timeout)) ? Ok : Timeout;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_ready", CallConvs = [typeof(CallConvCdecl)])]
    public static int Ready(long pool, long job)
    {
        try
        {
            return Get(pool).IsReady(job) ? 1 : 0;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_results", CallConvs = [typeof(CallConvCdecl)])]
    public static int Results(long pool, long job, byte** buf, long* len)
    {
        try
        {
            var results = Get(pool).Results(job);
            var w = new ArrayBufferWriter<byte>(64);
            var mw = new MessagePackWriter(w);
            mw.WriteArrayHeader(results.Length * 2);
            foreach (var (status, payload) in results)
            {
                mw.Write(status);
                mw.Write(payload.Span);
            }
            mw.Flush();
            Hand(w.WrittenSpan, buf, len);
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_next", CallConvs = [typeof(CallConvCdecl)])]
    public static int Next(long pool, long job, double timeout, long* index, int* status, byte** buf, long* len)
    {
        try
        {
            if (!Get(pool).Next(job, Span(timeout), out var r))
                return Timeout;
            if (r is not { } c)
                return Ended;
            *index = c.Index;
            *status = c.Status;
            Hand(c.Payload.Span, buf, len);
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_next_batch", CallConvs = [typeof(CallConvCdecl)])]
    public static int NextBatch(long pool, long job, double timeout, int max, byte** buf, long* len)
    {
        try
        {
            var core = Get(pool);
            if (!core.Next(job, Span(timeout), out var r))
                return Timeout;
            if (r is not { } first)
                return Ended;
            var taken = new List<ChunkResult> { first };
            if (max > 1)
                core.TakeAvailable(job, max - 1, taken);
            var w = new ArrayBufferWriter<byte>(256);
            var mw = new MessagePackWriter(w);
            mw.WriteArrayHeader(taken.Count * 3);
            foreach (var c in taken)
            {
                mw.Write(c.Index);
                mw.Write(c.Status);
                mw.Write(c.Payload.Span);
            }
            mw.Flush();
            Hand(w.WrittenSpan, buf, len);
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_cancel", CallConvs = [typeof(CallConvCdecl)])]
    public static int Cancel(long pool, long job)
    {
        try
        {
            return Get(pool).Cancel(job) ? 1 : 0;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_release", CallConvs = [typeof(CallConvCdecl)])]
    public static int Release(long pool, long job)
    {
        try
        {
            if (s_pools.TryGetValue(pool, out var core))
                core.Release(job);
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_next_notification", CallConvs = [typeof(CallConvCdecl)])]
    public static int NextNotification(long pool, double timeout, long* job)
    {
        try
        {
            if (!Get(pool).NextNotification(Span(timeout), out var id))
                return Ended;
            if (id is not { } j)
                return Timeout;
            *job = j;
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_chunksize", CallConvs = [typeof(CallConvCdecl)])]
    public static int Chunksize(long pool, long n, long* chunksize)
    {
        try
        {
            *chunksize = Get(pool).Chunksize(n);
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_workers", CallConvs = [typeof(CallConvCdecl)])]
    public static int Workers(long pool, int kind, byte** buf, long* len)
    {
        try
        {
            var ws = Get(pool).Workers(Kind(kind));
            var w = new ArrayBufferWriter<byte>(64);
            var mw = new MessagePackWriter(w);
            mw.WriteArrayHeader(ws.Length);
            foreach (var (pid, alive, tasks, ready) in ws)
            {
                mw.WriteMapHeader(4);
                mw.Write("ready");
                mw.Write(ready);
                mw.Write("pid");
                mw.Write(pid);
                mw.Write("alive");
                mw.Write(alive);
                mw.Write("tasks");
                mw.Write(tasks);
            }
            mw.Flush();
            Hand(w.WrittenSpan, buf, len);
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_close", CallConvs = [typeof(CallConvCdecl)])]
    public static int Close(long pool)
    {
        try
        {
            Get(pool).Close();
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_terminate", CallConvs = [typeof(CallConvCdecl)])]
    public static int Terminate(long pool)
    {
        try
        {
            Get(pool).Terminate();
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_join", CallConvs = [typeof(CallConvCdecl)])]
    public static int Join(long pool, double timeout)
    {
        try
        {
            return Get(pool).Join(Span(timeout)) ? Ok : Timeout;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_info", CallConvs = [typeof(CallConvCdecl)])]
    public static int Info(long pool, byte** buf, long* len)
    {
        try
        {
            var i = Get(pool).Info();
            var w = new ArrayBufferWriter<byte>(128);
            var mw = new MessagePackWriter(w);
            mw.WriteMapHeader(8);
            mw.Write("state");
            mw.Write(i.State switch { PoolState.Running => "running", PoolState.Closing => "closing", PoolState.Terminated => "terminated", _ => "disposed" });
            mw.Write("jobs");
            mw.Write(i.Jobs);
            mw.Write("pending_chunks");
            mw.Write(i.PendingChunks);
            mw.Write("live_workers");
            mw.Write(i.LiveWorkers);
            mw.Write("queued_python");
            mw.Write(i.QueuedPython);
            mw.Write("queued_dotnet");
            mw.Write(i.QueuedDotNet);
            mw.Write("prefetch_python");
            mw.Write(i.PrefetchPython);
            mw.Write("prefetch_dotnet");
            mw.Write(i.PrefetchDotNet);
            mw.Flush();
            Hand(w.WrittenSpan, buf, len);
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_worker_exited", CallConvs = [typeof(CallConvCdecl)])]
    public static int WorkerExited(long handle, int code)
    {
        NativeWorkerHost.Exited(handle, code);
        return Ok;
    }

    [UnmanagedCallersOnly(EntryPoint = "db_hosted_workers", CallConvs = [typeof(CallConvCdecl)])]
    public static int HostedWorkers(long pool, byte** buf, long* len)
    {
        try
        {
            var hs = Get(pool).HostedHandles(WorkerKind.Python);
            var w = new ArrayBufferWriter<byte>(64);
            var mw = new MessagePackWriter(w);
            mw.WriteArrayHeader(hs.Length);
            foreach (long h in hs)
                mw.Write(h);
            mw.Flush();
            Hand(w.WrittenSpan, buf, len);
            return Ok;
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_interrupt_interpreter", CallConvs = [typeof(CallConvCdecl)])]
    public static int InterruptInterpreter(long interpreterId, ulong threadIdent)
    {
        try
        {
            return CPythonInterrupt.Interrupt(interpreterId, threadIdent);
        }
        catch (Exception e) // converts to an ABI error code
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "db_last_error", CallConvs = [typeof(CallConvCdecl)])]
    public static byte* LastError()
    {
        var s = t_lastError;
        if (s is null)
            return null;
        int n = System.Text.Encoding.UTF8.GetByteCount(s);
        byte* p = (byte*)NativeMemory.Alloc((nuint)n + 1);
        System.Text.Encoding.UTF8.GetBytes(s, new Span<byte>(p, n));
        p[n] = 0;
        return p;
    }

    [UnmanagedCallersOnly(EntryPoint = "db_free", CallConvs = [typeof(CallConvCdecl)])]
    public static void Free(void* p) => NativeMemory.Free(p);

    // ---- helpers ---------------------------------------------------------------------------

    private static PoolCore Get(long pool)
    {
        if (!s_pools.TryGetValue(pool, out var core))
            throw new ObjectDisposedException("pool", $"unknown or destroyed pool handle {pool}");
        return core;
    }

    private static WorkerKind Kind(int kind) => kind switch
    {
        0 => WorkerKind.Python,
        1 => WorkerKind.DotNet,
        _ => throw new ArgumentException($"unknown worker kind {kind} (0 python, 1 dotnet)", nameof(kind)),
    };

    private static TaskEncoding Encoding(int e) => e switch
    {
        0 => TaskEncoding.Pickle,
        1 => TaskEncoding.MsgPack,
        _ => throw new ArgumentException($"unknown encoding {e} (0 pickle, 1 msgpack)", nameof(e)),
    };

    private static string? Str(byte* p) => p == null ? null : Marshal.PtrToStringUTF8((nint)p);

    private static TimeSpan? Span(double seconds) =>
        seconds < 0 || double.IsNaN(seconds) || double.IsInfinity(seconds) ? null : TimeSpan.FromSeconds(Math.Min(seconds, 1e7));

    private static void Hand(ReadOnlySpan<byte> data, byte** buf, long* len)
    {
        byte* p = (byte*)NativeMemory.Alloc((nuint)Math.Max(data.Length, 1));
        data.CopyTo(new Span<byte>(p, data.Length));
        *buf = p;
        *len = data.Length;
    }

    private static int Fail(Exception e)
    {
        t_lastError = e.Message;
        return e switch
        {
            ObjectDisposedException => ErrDisposed,
            ArgumentException or ProtocolException or MessagePackSerializationException or OverflowException => ErrArgument,
            InvalidOperationException => ErrState,
            _ => ErrRuntime,
        };
    }
}

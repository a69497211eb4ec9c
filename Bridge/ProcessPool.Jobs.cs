using System.Buffers;
using MessagePack;

namespace Bridge;

// Design notes: how a typed call becomes a job of the core and comes back.
//
//   ApplyAsync/MapAsync/...  --EncodeCalls-->  chunks [(payload, count)]  --SubmitJob-->  core job
//   core job ready (or next chunk)  --Results-->  (status, payload) per chunk
//   status OK: payload is the raw MessagePack array of results -> MsgPackValues.Read<TResult> each
//   otherwise: ErrorFromStatus (ProcessPool.Errors.cs) -> a fresh exception per call
//
// Waiting: every await is linked to the caller's token and to _disposed (cancelled by Dispose), so
// no call outlives the pool. On cancellation the job's undispatched chunks are cancelled and the
// job is released once the core has finished with it.
public sealed partial class ProcessPool
{
    /// <summary>Packs calls as PROTOCOL.md's MSGPACK payload: an array of calls, each an array of positional arguments.</summary>
    /// <exception cref="ValueConversionException">An argument has no MessagePack form.</exception>
    internal static byte[] EncodeCalls(IEnumerable<object?[]> calls)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        var list = calls as IReadOnlyCollection<object?[]> ?? calls.ToList();
        writer.WriteArrayHeader(list.Count);
        int i = 0;
        foreach (var args in list)
        {
            writer.WriteArrayHeader(args.Length);
            for (int j = 0; j < args.Length; j++)
            {
                try
                {
                    MsgPackValues.Write(ref writer, args[j]);
                }
                catch (ValueConversionException e)
                {
                    throw new ValueConversionException($"argument {j + 1} of call {i}: {e.Message}", e);
                }
            }
            i++;
        }
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Splits per-call argument arrays into chunks of <paramref name="chunksize"/> calls.</summary>
    internal static List<(byte[] Payload, int Count)> MakeChunks(IReadOnlyList<object?[]> calls, int chunksize)
    {
        var chunks = new List<(byte[], int)>((calls.Count + chunksize - 1) / Math.Max(chunksize, 1));
        for (int start = 0; start < calls.Count; start += chunksize)
        {
            int count = Math.Min(chunksize, calls.Count - start);
            var slice = new object?[count][];
            for (int k = 0; k < count; k++)
            {
                slice[k] = calls[start + k];
            }
            chunks.Add((EncodeCalls(slice), count));
        }
        return chunks;
    }

    /// <summary>Decodes one OK chunk's results into <paramref name="into"/> starting at <paramref name="offset"/>.</summary>
    /// <exception cref="ValueConversionException">A result does not convert to <typeparamref name="TResult"/>.</exception>
    internal static void DecodeResults<TResult>(ReadOnlyMemory<byte> payload, int expected, TResult[] into, int offset)
    {
        var reader = new MessagePackReader(payload);
        int n = reader.ReadArrayHeader();
        if (n != expected)
        {
            throw new InvalidOperationException($"a worker returned {n} results for a chunk of {expected} calls");
        }
        for (int i = 0; i < n; i++)
        {
            try
            {
                into[offset + i] = MsgPackValues.Read<TResult>(ref reader);
            }
            catch (ValueConversionException e) when (expected > 1)
            {
                throw new ValueConversionException($"result {offset + i}: {e.Message}", e);
            }
        }
    }

    /// <summary>Waits for a job to be ready, then returns all its results in call order (or throws the first failure).</summary>
    private async Task<TResult[]> CollectAsync<TResult>(PoolJob job, TargetKind kind, int[] chunkCounts, CancellationToken cancellationToken)
    {
        using var linked = cancellationToken.CanBeCanceled
            ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token)
            : null;
        var token = linked?.Token ?? _disposed.Token;
        try
        {
            await job.WhenReady.WaitAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            job.Abandon();
            throw cancellationToken.IsCancellationRequested
                ? new OperationCanceledException(cancellationToken)
                : DisposedWhileInFlight();
        }
        try
        {
            return Decode<TResult>(job.Results(), kind, chunkCounts, cancellationToken);
        }
        finally
        {
            job.Abandon();
        }
    }

    /// <summary>All results of a ready job in call order, or the exception of its first failure (real failures before cancellations).</summary>
    private TResult[] Decode<TResult>(IReadOnlyList<(int Status, ReadOnlyMemory<byte> Payload)> results, TargetKind kind, int[] chunkCounts, CancellationToken cancellationToken)
    {
        // A failfast job is ready at its first failure (other chunks may still be pending):
        // report a real failure before any cancellation or pending status.
        foreach (var (status, payload) in results)
        {
            if (status is StatusError or StatusCrashed or StatusBroken)
            {
                throw ErrorFromStatus(status, payload, kind, cancellationToken);
            }
        }
        int total = 0;
        foreach (int c in chunkCounts)
        {
            total += c;
        }
        var values = new TResult[total];
        int offset = 0;
        for (int i = 0; i < chunkCounts.Length; i++)
        {
            var (status, payload) = results[i];
            if (status != StatusOk)
            {
                throw ErrorFromStatus(status, payload, kind, cancellationToken);
            }
            DecodeResults(payload, chunkCounts[i], values, offset);
            offset += chunkCounts[i];
        }
        return values;
    }

    /// <summary>
    /// Feeds <paramref name="calls"/> into an open job, a window of chunks ahead of the consumer
    /// (so an endless or huge input streams), and yields the results chunk by chunk as the core
    /// hands them out (in order, or in completion order).
    /// </summary>
    private async IAsyncEnumerable<TResult> StreamAsync<TResult>(
        Target target, IEnumerable<object?[]> calls, int chunksize, bool ordered, CancellationToken callerToken,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken enumeratorToken = default)
    {
        CheckDisposed();
        callerToken.ThrowIfCancellationRequested();
        enumeratorToken.ThrowIfCancellationRequested();
        // The caller's token (the method argument) and the enumerator's (WithCancellation) may
        // differ: the OperationCanceledException carries whichever fired.
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(callerToken, enumeratorToken, _disposed.Token);
        var token = linked.Token;
        int window = Math.Max(8, 4 * Processes);
        var counts = new List<int>();
        int handed = 0;
        bool more = true;
        using var items = calls.GetEnumerator();
        var job = _core.Open(target.Kind, target.Name, ordered);
        try
        {
            Feed();
            while (true)
            {
                (int Index, int Status, ReadOnlyMemory<byte> Payload)? next;
                try
                {
                    next = await job.NextAsync(token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    throw callerToken.IsCancellationRequested ? new OperationCanceledException(callerToken)
                        : enumeratorToken.IsCancellationRequested ? new OperationCanceledException(enumeratorToken)
                        : DisposedWhileInFlight();
                }
                if (next is not { } chunk)
                {
                    yield break;
                }
                handed++;
                if (chunk.Status != StatusOk)
                {
                    var fired = callerToken.IsCancellationRequested ? callerToken : enumeratorToken;
                    throw ErrorFromStatus(chunk.Status, chunk.Payload, target.Kind, fired);
                }
                var values = new TResult[counts[chunk.Index]];
                DecodeResults(chunk.Payload, values.Length, values, 0);
                Feed();
                foreach (var value in values)
                {
                    yield return value;
                }
            }
        }
        finally
        {
            job.Abandon();
        }

        // Adds chunks until `window` are outstanding or the input ends (then seals the job).
        void Feed()
        {
            var batch = new List<object?[]>(chunksize);
            while (more && counts.Count - handed < window)
            {
                batch.Clear();
                while (batch.Count < chunksize && (more = items.MoveNext()))
                {
                    batch.Add(items.Current);
                }
                if (batch.Count > 0)
                {
                    job.AddChunk(EncodeCalls(batch), batch.Count);
                    counts.Add(batch.Count);
                }
            }
            if (!more)
            {
                job.Seal();
            }
        }
    }

    private void CheckDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _state) == StateDisposed, this);

    private static ObjectDisposedException DisposedWhileInFlight() =>
        new(nameof(ProcessPool), "The pool was disposed while this call was in flight; its workers were terminated.");

    /// <summary>Terminates the workers (calls in flight fail with <see cref="ObjectDisposedException"/>) and releases the pool. Idempotent.</summary>
    /// <remarks>Blocks for at most about a second while workers that ignore SIGTERM are killed.</remarks>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _state, StateDisposed) == StateDisposed)
        {
            return;
        }
        _disposed.Cancel();
        _core.Dispose();
        _host?.Join(_hostShutdown); // interpreter workers: their threads end their interpreters
        _disposed.Dispose();
    }

    /// <summary>Terminates the workers and releases the pool without blocking the calling thread (see <see cref="Dispose"/>). Idempotent.</summary>
    /// <returns>A task that completes when the workers are gone.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref _state) == StateDisposed)
        {
            return;
        }
        await Task.Run(Dispose).ConfigureAwait(false);
    }
}

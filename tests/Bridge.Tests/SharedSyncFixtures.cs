using System.Diagnostics;

namespace Bridge.Tests;

/// <summary>
/// C# methods tests/python/test_condition_barrier_dotnet.py runs in a .NET worker against a Python
/// <c>dotbridge.Condition</c>/<c>Barrier</c> given by descriptor
/// (<c>dotbridge.dotnet.method("Bridge.Tests.SharedSyncFixtures.ConditionWait", assembly=".../Bridge.Tests.dll")</c>).
/// Every wait is bounded by <c>timeoutMs</c>.
/// </summary>
public static class SharedSyncFixtures
{
    /// <summary>
    /// Takes the condition's lock (possible once the Python side holding it went to sleep in <c>wait</c>),
    /// notifies one waiter and releases. Returns false if the lock was not free within <paramref name="timeoutMs"/>.
    /// </summary>
    public static bool ConditionNotify(string descriptor, int timeoutMs)
    {
        using var cond = SharedCondition.Open(descriptor);
        if (!cond.TryAcquire(TimeSpan.FromMilliseconds(timeoutMs)))
        {
            return false;
        }
        try
        {
            cond.Notify();
            return true;
        }
        finally
        {
            cond.Release();
        }
    }

    /// <summary>Waits on the condition once (under its lock) for at most <paramref name="timeoutMs"/>; returns what <c>Wait</c> returned.</summary>
    public static bool ConditionWait(string descriptor, int timeoutMs)
    {
        using var cond = SharedCondition.Open(descriptor);
        if (!cond.TryAcquire(TimeSpan.FromMilliseconds(timeoutMs)))
        {
            throw new TimeoutException("the condition's lock was not free");
        }
        try
        {
            return cond.Wait(TimeSpan.FromMilliseconds(timeoutMs));
        }
        finally
        {
            cond.Release();
        }
    }

    /// <summary>Waits until the shared int <c>flag</c> (a <c>dotbridge.RawValue('i')</c> descriptor) is non-zero, via <c>WaitFor</c>; returns its value.</summary>
    public static int ConditionWaitFor(string descriptor, string flagDescriptor, int timeoutMs)
    {
        using var cond = SharedCondition.Open(descriptor);
        using var flag = SharedValue<int>.Open(flagDescriptor);
        using (cond.EnterScope())
        {
            cond.WaitFor(() => flag.Raw != 0, TimeSpan.FromMilliseconds(timeoutMs));
            return flag.Raw;
        }
    }

    /// <summary>
    /// Ping-pong with Python over one condition and a shared int (a <c>RawValue('i')</c> descriptor): waits for
    /// an odd value, adds one, notifies; <paramref name="rounds"/> times. Returns the last value it wrote, or -1
    /// if a wait timed out.
    /// </summary>
    public static int ConditionPingPong(string descriptor, string counterDescriptor, int rounds, int timeoutMs)
    {
        using var cond = SharedCondition.Open(descriptor);
        using var counter = SharedValue<int>.Open(counterDescriptor);
        int last = 0;
        for (int i = 0; i < rounds; i++)
        {
            using (cond.EnterScope())
            {
                if (!cond.WaitFor(() => counter.Raw % 2 == 1, TimeSpan.FromMilliseconds(timeoutMs)))
                {
                    return -1;
                }
                last = ++counter.Raw;
                cond.NotifyAll();
            }
        }
        return last;
    }

    /// <summary>One party's <c>Wait</c> on the barrier: its arrival index, or -1 if the barrier was or became broken.</summary>
    public static int BarrierWait(string descriptor, int timeoutMs)
    {
        using var barrier = SharedBarrier.Open(descriptor);
        try
        {
            return barrier.Wait(TimeSpan.FromMilliseconds(timeoutMs));
        }
        catch (BrokenBarrierException)
        {
            return -1;
        }
    }

    /// <summary>Waits (polling, at most <paramref name="timeoutMs"/>) until <paramref name="waiting"/> parties wait, then aborts the barrier; false if they never came.</summary>
    public static bool BarrierAbortWhenWaiting(string descriptor, int waiting, int timeoutMs)
    {
        using var barrier = SharedBarrier.Open(descriptor);
        var sw = Stopwatch.StartNew();
        while (barrier.NWaiting < waiting)
        {
            if (sw.ElapsedMilliseconds > timeoutMs)
            {
                return false;
            }
            Thread.Sleep(5);
        }
        barrier.Abort();
        return barrier.Broken;
    }
}

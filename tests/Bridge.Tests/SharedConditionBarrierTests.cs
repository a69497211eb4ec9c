using System.Collections.Concurrent;
using System.Diagnostics;

namespace Bridge.Tests;

public class SharedConditionTests
{
    private static bool Eventually(Func<bool> condition, int timeoutMs = 20_000)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.ElapsedMilliseconds > timeoutMs)
            {
                return false;
            }
            Thread.Sleep(5);
        }
        return true;
    }

    [Test]
    public void Wait_and_notify_without_the_lock_throw_and_a_wait_times_out_with_false()
    {
        using var cond = SharedCondition.Create(recursive: false);
        try
        {
            Assert.That(cond.Descriptor, Does.Match("^dotbridge\\.condition:v1;lock=/db_[0-9a-f]{32};lockkind=lock;sleeping=/db_[0-9a-f]{32};woken=/db_[0-9a-f]{32};wait=/db_[0-9a-f]{32}$"));
            Assert.That(() => cond.Wait(TimeSpan.Zero), Throws.TypeOf<SynchronizationLockException>());
            Assert.That(() => cond.Notify(), Throws.TypeOf<SynchronizationLockException>());
            using (cond.EnterScope())
            {
                var sw = Stopwatch.StartNew();
                Assert.That(cond.Wait(TimeSpan.FromMilliseconds(150)), Is.False);
                Assert.That(sw.ElapsedMilliseconds, Is.GreaterThanOrEqualTo(120));
                Assert.That(cond.WaitFor(() => false, TimeSpan.FromMilliseconds(100)), Is.False);
                Assert.That(cond.WaitFor(() => true, TimeSpan.Zero), Is.True);
                cond.NotifyAll(); // no waiters: returns at once
                // a lock held by this thread is still held after the timed-out waits
                Assert.That(Task.Run(() => cond.TryAcquire(TimeSpan.FromMilliseconds(50))).Result, Is.False);
            }
            Assert.That(Task.Run(() =>
            {
                bool ok = cond.TryAcquire(TimeSpan.FromSeconds(10));
                cond.Release();
                return ok;
            }).Result, Is.True);
        }
        finally
        {
            cond.Unlink();
        }
    }

    [Test]
    [CancelAfter(60_000)]
    public void Notify_wakes_a_waiter_on_another_thread_which_gets_every_rlock_level_back()
    {
        using var cond = SharedCondition.Create();
        try
        {
            int entered = 0;
            var waiter = Task.Run(() =>
            {
                cond.Acquire();
                cond.Acquire();
                entered = 1;
                bool woken = cond.Wait(TimeSpan.FromSeconds(20));
                cond.Release();
                cond.Release(); // both levels were re-acquired
                return woken;
            });
            // Once the waiter has entered, the lock comes free only when it sleeps in Wait (it released both levels there).
            Assert.That(Eventually(() =>
            {
                cond.Acquire();
                if (Volatile.Read(ref entered) == 1)
                {
                    return true;
                }
                cond.Release();
                return false;
            }), Is.True);
            cond.Notify();
            cond.Release();
            Assert.That(waiter.Wait(TimeSpan.FromSeconds(20)), Is.True);
            Assert.That(waiter.Result, Is.True);
        }
        finally
        {
            cond.Unlink();
        }
    }

    [Test]
    [CancelAfter(60_000)]
    public void Notify_n_wakes_n_waiters_and_notify_all_the_rest()
    {
        using var cond = SharedCondition.Create();
        try
        {
            int sleeping = 0, woken = 0;
            var waiters = Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
            {
                using (cond.EnterScope())
                {
                    Interlocked.Increment(ref sleeping);
                    if (cond.Wait(TimeSpan.FromSeconds(20)))
                    {
                        Interlocked.Increment(ref woken);
                    }
                }
            })).ToArray();
            // Each waiter counts itself under the lock before it sleeps: once all 3 counted and we hold the lock, all 3 sleep.
            Assert.That(Eventually(() =>
            {
                using (cond.EnterScope())
                {
                    return Volatile.Read(ref sleeping) == 3;
                }
            }), Is.True);
            using (cond.EnterScope())
            {
                cond.Notify(2);
            }
            Assert.That(Eventually(() => Volatile.Read(ref woken) == 2), Is.True);
            Thread.Sleep(100);
            Assert.That(Volatile.Read(ref woken), Is.EqualTo(2), "Notify(2) woke a third waiter");
            using (cond.EnterScope())
            {
                cond.NotifyAll();
            }
            Assert.That(Task.WaitAll(waiters, TimeSpan.FromSeconds(20)), Is.True);
            Assert.That(woken, Is.EqualTo(3));
        }
        finally
        {
            cond.Unlink();
        }
    }

    [Test]
    [CancelAfter(60_000)]
    public void Wait_for_sees_a_predicate_another_thread_makes_true()
    {
        using var cond = SharedCondition.Create();
        try
        {
            int flag = 0;
            var waiter = Task.Run(() =>
            {
                using (cond.EnterScope())
                {
                    return cond.WaitFor(() => Volatile.Read(ref flag) == 2, TimeSpan.FromSeconds(20));
                }
            });
            for (int i = 1; i <= 2; i++)
            {
                Thread.Sleep(50);
                using (cond.EnterScope())
                {
                    flag = i;
                    cond.NotifyAll();
                }
            }
            Assert.That(waiter.Wait(TimeSpan.FromSeconds(20)) && waiter.Result, Is.True);
        }
        finally
        {
            cond.Unlink();
        }
    }

    [Test]
    [CancelAfter(60_000)]
    public void Python_waiter_is_woken_by_a_notify_from_here()
    {
        using var py = SharedMemoryPythonChild.Start("""
            from dotbridge import synchronize
            c = synchronize.Condition()
            c.acquire()
            print(c.descriptor, flush=True)
            print(c.wait(20), flush=True)
            c.release()
            """);
        using var cond = SharedCondition.Open(py.ReadLine());
        Assert.That(cond.IsRecursive, Is.True);
        // Python holds the lock until it sleeps in wait().
        Assert.That(cond.TryAcquire(TimeSpan.FromSeconds(20)), Is.True);
        cond.Notify();
        cond.Release();
        Assert.That(py.ReadLine(), Is.EqualTo("True"));
        var (code, err) = py.WaitForExit();
        Assert.That(code, Is.EqualTo(0), err);
    }

    [Test]
    [CancelAfter(60_000)]
    public void Waiter_here_is_woken_by_python_and_python_wait_times_out_with_false()
    {
        using var cond = SharedCondition.Create(recursive: false);
        try
        {
            cond.Acquire();
            using var py = SharedMemoryPythonChild.Start($$"""
                from dotbridge import synchronize
                c = synchronize.open_condition('{{cond.Descriptor}}')
                print(c.acquire(timeout=0.1), flush=True)
                assert c.acquire(timeout=20)
                c.notify()
                c.release()
                print('notified', flush=True)
                with c:
                    print(c.wait(0.2), flush=True)
                """);
            Assert.That(py.ReadLine(), Is.EqualTo("False"), "C# holds the lock");
            Assert.That(cond.Wait(TimeSpan.FromSeconds(20)), Is.True);
            cond.Release();
            Assert.That(py.ReadLine(), Is.EqualTo("notified"));
            Assert.That(py.ReadLine(), Is.EqualTo("False"));
            var (code, err) = py.WaitForExit();
            Assert.That(code, Is.EqualTo(0), err);
        }
        finally
        {
            cond.Unlink();
        }
    }

    [Test]
    public void Garbage_descriptors_are_rejected_and_parts_can_be_shared()
    {
        Assert.That(() => SharedCondition.Open("nope"), Throws.TypeOf<FormatException>());
        Assert.That(() => SharedCondition.Open("dotbridge.condition:v1;lock=/db_x"), Throws.TypeOf<FormatException>());
        Assert.That(() => SharedCondition.Open("dotbridge.condition:v1;lock=/db_x;lockkind=mutex;sleeping=/a;woken=/b;wait=/c"), Throws.TypeOf<FormatException>());
        Assert.That(() => SharedCondition.Open("dotbridge.condition:v1;lock=/db_nonexistent0;sleeping=/a;woken=/b;wait=/c"), Throws.TypeOf<FileNotFoundException>());
        using var lk = SharedLock.Create();
        using var s1 = SharedSemaphore.Create(null, 0);
        using var s2 = SharedSemaphore.Create(null, 0);
        using var s3 = SharedSemaphore.Create(null, 0);
        try
        {
            using (var cond = SharedCondition.FromParts(lk, s1, s2, s3, leaveOpen: true))
            {
                Assert.That(cond.Descriptor, Does.Contain($"lock={lk.Name};lockkind=lock;sleeping={s1.Name};woken={s2.Name};wait={s3.Name}"));
                Assert.That(() => cond.Unlink(), Throws.InvalidOperationException);
                using var same = SharedCondition.Open(cond.Descriptor);
                using (cond.EnterScope())
                {
                    Assert.That(lk.IsLocked, Is.True);
                    Assert.That(same.TryAcquire(TimeSpan.Zero), Is.False);
                }
            }
            Assert.That(lk.TryAcquire(TimeSpan.Zero), Is.True, "leaveOpen: the lock is still usable");
            lk.Release();
        }
        finally
        {
            lk.Unlink();
            s1.Unlink();
            s2.Unlink();
            s3.Unlink();
        }
    }
}

public class SharedBarrierTests
{
    private static Task<int> WaitAsync(SharedBarrier barrier, int timeoutMs = 20_000) =>
        Task.Factory.StartNew(() => barrier.Wait(TimeSpan.FromMilliseconds(timeoutMs)), TaskCreationOptions.LongRunning);

    private static bool Eventually(Func<bool> condition, int timeoutMs = 20_000)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.ElapsedMilliseconds > timeoutMs)
            {
                return false;
            }
            Thread.Sleep(5);
        }
        return true;
    }

    [Test]
    [CancelAfter(60_000)]
    public void Parties_pass_together_with_distinct_indices_again_and_again()
    {
        int actions = 0;
        using var barrier = SharedBarrier.Create(3, action: () => Interlocked.Increment(ref actions));
        try
        {
            Assert.That(barrier.Parties, Is.EqualTo(3));
            for (int round = 1; round <= 3; round++)
            {
                var parties = Enumerable.Range(0, 3).Select(_ => WaitAsync(barrier)).ToArray();
                Assert.That(Task.WaitAll(parties, TimeSpan.FromSeconds(30)), Is.True);
                Assert.That(parties.Select(t => t.Result).Order(), Is.EqualTo(new[] { 0, 1, 2 }));
                Assert.That(actions, Is.EqualTo(round));
            }
            Assert.That(barrier.NWaiting, Is.EqualTo(0));
            Assert.That(barrier.Broken, Is.False);
        }
        finally
        {
            barrier.Unlink();
        }
    }

    [Test]
    [CancelAfter(60_000)]
    public void A_timed_out_wait_breaks_the_barrier_until_reset()
    {
        using var barrier = SharedBarrier.Create(2, timeout: TimeSpan.FromMilliseconds(100));
        try
        {
            Assert.That(barrier.Descriptor, Does.StartWith("dotbridge.barrier:v1;parties=2;timeout=0.1;segment=db_"));
            var sw = Stopwatch.StartNew();
            Assert.That(() => barrier.Wait(), Throws.TypeOf<BrokenBarrierException>());
            Assert.That(sw.ElapsedMilliseconds, Is.GreaterThanOrEqualTo(80));
            Assert.That(barrier.Broken, Is.True);
            Assert.That(() => barrier.Wait(TimeSpan.FromSeconds(5)), Throws.TypeOf<BrokenBarrierException>());
            barrier.Reset();
            Assert.That(barrier.Broken, Is.False);
            var parties = new[] { WaitAsync(barrier), WaitAsync(barrier) };
            Assert.That(Task.WaitAll(parties, TimeSpan.FromSeconds(30)), Is.True);
        }
        finally
        {
            barrier.Unlink();
        }
    }

    [Test]
    [CancelAfter(60_000)]
    public void Abort_and_reset_wake_a_waiter_with_broken_barrier_and_a_throwing_action_breaks_it()
    {
        using var barrier = SharedBarrier.Create(2);
        try
        {
            var waiter = WaitAsync(barrier);
            Assert.That(Eventually(() => barrier.NWaiting == 1), Is.True);
            barrier.Abort();
            Assert.That(() => waiter.Wait(TimeSpan.FromSeconds(20)), Throws.InstanceOf<AggregateException>().With.InnerException.TypeOf<BrokenBarrierException>());
            barrier.Reset();
            waiter = WaitAsync(barrier);
            Assert.That(Eventually(() => barrier.NWaiting == 1), Is.True);
            barrier.Reset();
            Assert.That(() => waiter.Wait(TimeSpan.FromSeconds(20)), Throws.InstanceOf<AggregateException>().With.InnerException.TypeOf<BrokenBarrierException>());
            Assert.That(barrier.Broken, Is.False, "reset leaves it usable");
        }
        finally
        {
            barrier.Unlink();
        }
        using var failing = SharedBarrier.Create(1, action: () => throw new InvalidOperationException("boom"));
        try
        {
            Assert.That(() => failing.Wait(TimeSpan.FromSeconds(5)), Throws.InvalidOperationException);
            Assert.That(failing.Broken, Is.True);
        }
        finally
        {
            failing.Unlink();
        }
    }

    [Test]
    [CancelAfter(60_000)]
    public void Python_parties_and_a_party_here_pass_one_python_barrier()
    {
        using var py = SharedMemoryPythonChild.Start("""
            import threading
            from dotbridge import synchronize
            b = synchronize.Barrier(3)
            print(b.descriptor, flush=True)
            got = []
            t = threading.Thread(target=lambda: got.append(b.wait(20)))
            t.start()
            got.append(b.wait(20))
            t.join(20)
            print(' '.join(map(str, sorted(got))), flush=True)
            input()
            print(b.n_waiting, b.broken, flush=True)
            """);
        using var barrier = SharedBarrier.Open(py.ReadLine());
        Assert.That(barrier.Parties, Is.EqualTo(3));
        Assert.That(barrier.DefaultTimeout, Is.Null);
        int mine = barrier.Wait(TimeSpan.FromSeconds(20));
        var theirs = py.ReadLine().Split(' ').Select(int.Parse).ToList();
        Assert.That(theirs.Append(mine).Order(), Is.EqualTo(new[] { 0, 1, 2 }));
        py.WriteLine("state");
        Assert.That(py.ReadLine(), Is.EqualTo("0 False"));
        var (code, err) = py.WaitForExit();
        Assert.That(code, Is.EqualTo(0), err);
    }

    [Test]
    [CancelAfter(60_000)]
    public void Barrier_made_here_passes_with_python_and_an_abort_here_breaks_pythons_wait()
    {
        using var barrier = SharedBarrier.Create(2, timeout: TimeSpan.FromSeconds(20));
        try
        {
            using var py = SharedMemoryPythonChild.Start($$"""
                import threading
                from dotbridge import synchronize
                b = synchronize.open_barrier('{{barrier.Descriptor}}')
                print(b.parties, b._timeout, flush=True)
                print(b.wait(), flush=True)
                try:
                    b.wait(20)
                    print('passed', flush=True)
                except threading.BrokenBarrierError:
                    print('broken', b.broken, flush=True)
                """);
            Assert.That(py.ReadLine(), Is.EqualTo("2 20.0"));
            int mine = barrier.Wait();
            int theirs = int.Parse(py.ReadLine());
            Assert.That(new[] { mine, theirs }.Order(), Is.EqualTo(new[] { 0, 1 }));
            Assert.That(Eventually(() => barrier.NWaiting == 1), Is.True, "python waits again");
            barrier.Abort();
            Assert.That(py.ReadLine(), Is.EqualTo("broken True"));
            var (code, err) = py.WaitForExit();
            Assert.That(code, Is.EqualTo(0), err);
        }
        finally
        {
            barrier.Unlink();
        }
    }

    [Test]
    public void Garbage_descriptors_are_rejected()
    {
        Assert.That(() => SharedBarrier.Open("dotbridge.condition:v1;lock=/x"), Throws.TypeOf<FormatException>());
        Assert.That(() => SharedBarrier.Open("dotbridge.barrier:v1;parties=0;segment=db_x"), Throws.TypeOf<FormatException>());
        Assert.That(() => SharedBarrier.Open("dotbridge.barrier:v1;parties=2;timeout=soon;segment=db_x"), Throws.TypeOf<FormatException>());
        Assert.That(() => SharedBarrier.Create(0), Throws.TypeOf<ArgumentOutOfRangeException>());
    }
}

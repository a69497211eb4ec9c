using System.Diagnostics;

namespace Bridge.Tests;

public class SharedSemaphoreTests
{
    [Test]
    public void Counts_down_and_up_and_times_out_when_empty()
    {
        using var sem = SharedSemaphore.Create(null, 2);
        try
        {
            Assert.That(sem.Name, Does.Match("^/db_[0-9a-f]{32}$"));
            Assert.That(sem.Wait(TimeSpan.Zero), Is.True);
            Assert.That(sem.Wait(TimeSpan.FromSeconds(1)), Is.True);
            Assert.That(sem.CurrentCount, Is.EqualTo(0));
            var sw = Stopwatch.StartNew();
            Assert.That(sem.Wait(TimeSpan.FromMilliseconds(150)), Is.False);
            Assert.That(sw.ElapsedMilliseconds, Is.GreaterThanOrEqualTo(120));
            sem.Release();
            Assert.That(sem.CurrentCount, Is.EqualTo(1));
        }
        finally
        {
            sem.Unlink();
        }
    }

    [Test]
    public void Bounded_release_beyond_the_maximum_throws()
    {
        using var sem = SharedSemaphore.Create(null, 1, 1);
        try
        {
            Assert.That(() => sem.Release(), Throws.TypeOf<SemaphoreFullException>());
        }
        finally
        {
            sem.Unlink();
        }
    }

    [Test]
    public void Open_sees_the_same_count_and_missing_names_throw()
    {
        using var sem = SharedSemaphore.Create(null, 3);
        try
        {
            using var other = SharedSemaphore.Open(sem.Name);
            Assert.That(other.CurrentCount, Is.EqualTo(3));
            Assert.That(() => other.Unlink(), Throws.InvalidOperationException);
        }
        finally
        {
            sem.Unlink();
        }
        Assert.That(() => SharedSemaphore.Open(sem.Name), Throws.TypeOf<FileNotFoundException>());
        sem.Dispose();
        Assert.That(() => sem.Wait(TimeSpan.Zero), Throws.TypeOf<ObjectDisposedException>());
    }

    [Test]
    [CancelAfter(30_000)]
    public void A_waiter_on_another_thread_wakes_on_release()
    {
        using var sem = SharedSemaphore.Create(null, 0);
        try
        {
            var waiter = Task.Run(() => sem.Wait(TimeSpan.FromSeconds(20)));
            Thread.Sleep(50);
            sem.Release();
            Assert.That(waiter.Wait(TimeSpan.FromSeconds(20)), Is.True);
            Assert.That(waiter.Result, Is.True);
        }
        finally
        {
            sem.Unlink();
        }
    }
}

public class SharedLockTests
{
    [Test]
    public void Lock_excludes_and_scope_releases()
    {
        using var gate = SharedLock.Create();
        try
        {
            using var other = SharedLock.Open(gate.Name);
            using (gate.EnterScope())
            {
                Assert.That(gate.IsLocked, Is.True);
                Assert.That(other.TryAcquire(TimeSpan.FromMilliseconds(50)), Is.False);
            }
            Assert.That(other.TryAcquire(TimeSpan.Zero), Is.True);
            other.Release();
            Assert.That(() => other.Release(), Throws.TypeOf<SynchronizationLockException>());
        }
        finally
        {
            gate.Unlink();
        }
    }

    [Test]
    public void RLock_reenters_on_its_thread_and_excludes_others()
    {
        using var r = SharedRLock.Create();
        try
        {
            r.Acquire();
            Assert.That(r.TryAcquire(TimeSpan.Zero), Is.True);
            Assert.That(Task.Run(() => r.TryAcquire(TimeSpan.FromMilliseconds(50))).Wait(10_000) , Is.True);
            Assert.That(Task.Run(() => r.TryAcquire(TimeSpan.FromMilliseconds(50))).Result, Is.False);
            Assert.That(Task.Run(() => Assert.Throws<SynchronizationLockException>(r.Release)).Wait(10_000), Is.True);
            r.Release();
            Assert.That(r.IsHeldByCurrentThread, Is.True);
            r.Release();
            Assert.That(r.IsHeldByCurrentThread, Is.False);
            Assert.That(Task.Run(() =>
            {
                bool ok = r.TryAcquire(TimeSpan.FromSeconds(5));
                r.Release();
                return ok;
            }).Result, Is.True);
        }
        finally
        {
            r.Unlink();
        }
    }

    [Test]
    [CancelAfter(60_000)]
    public void Lock_held_by_python_blocks_a_csharp_acquire_until_released()
    {
        using var py = SharedMemoryPythonChild.Start("""
            import multiprocessing as mp
            lk = mp.get_context('spawn').Lock()
            lk.acquire()
            print(lk._semlock.name, flush=True)
            input()
            lk.release()
            print('released', flush=True)
            input()
            print(lk.acquire(timeout=0.2), flush=True)
            """);
        var name = py.ReadLine();
        using var gate = SharedLock.Open(name);
        var sw = Stopwatch.StartNew();
        Assert.That(gate.TryAcquire(TimeSpan.FromMilliseconds(200)), Is.False);
        Assert.That(sw.ElapsedMilliseconds, Is.GreaterThanOrEqualTo(150));
        py.WriteLine("release");
        Assert.That(py.ReadLine(), Is.EqualTo("released"));
        Assert.That(gate.TryAcquire(TimeSpan.FromSeconds(10)), Is.True);
        py.WriteLine("try");
        Assert.That(py.ReadLine(), Is.EqualTo("False"), "C# holds the lock: Python's acquire must time out");
        gate.Release();
        Assert.That(py.WaitForExit().ExitCode, Is.EqualTo(0));
    }

    [Test]
    [CancelAfter(60_000)]
    public void Lock_made_here_is_a_real_multiprocessing_lock_in_python()
    {
        using var gate = SharedLock.Create();
        try
        {
            gate.Acquire();
            using var py = SharedMemoryPythonChild.Start($$"""
                from dotbridge import synchronize
                lk = synchronize.open_lock('{{gate.Name}}')
                print(lk.acquire(timeout=0.1), flush=True)
                print(lk.acquire(timeout=20), flush=True)
                lk.release()
                """);
            Assert.That(py.ReadLine(), Is.EqualTo("False"));
            gate.Release();
            Assert.That(py.ReadLine(), Is.EqualTo("True"));
            Assert.That(py.WaitForExit().ExitCode, Is.EqualTo(0));
            Assert.That(gate.IsLocked, Is.False);
        }
        finally
        {
            gate.Unlink();
        }
    }

    [Test]
    [CancelAfter(60_000)]
    public void Python_bounded_semaphore_refuses_an_extra_release_here()
    {
        using var py = SharedMemoryPythonChild.Start("""
            from dotbridge import synchronize
            s = synchronize.BoundedSemaphore(2)
            print(s.name, flush=True)
            input()
            print(s.get_value(), flush=True)
            """);
        using var sem = SharedSemaphore.Open(py.ReadLine(), maximumCount: 2);
        Assert.That(sem.CurrentCount, Is.EqualTo(2));
        Assert.That(() => sem.Release(), Throws.TypeOf<SemaphoreFullException>());
        Assert.That(sem.Wait(TimeSpan.Zero), Is.True);
        py.WriteLine("go");
        Assert.That(py.ReadLine(), Is.EqualTo("1"));
        Assert.That(py.WaitForExit().ExitCode, Is.EqualTo(0));
    }
}

public class SharedEventTests
{
    [Test]
    [CancelAfter(60_000)]
    public void Python_event_is_set_waited_and_cleared_from_both_sides()
    {
        using var py = SharedMemoryPythonChild.Start("""
            from dotbridge import synchronize
            ev = synchronize.Event()
            print(ev.descriptor, flush=True)
            print(ev.wait(20), flush=True)
            ev.clear()
            print('cleared', flush=True)
            input()
            ev.set()
            print('set', flush=True)
            input()
            """);
        using var ev = SharedEvent.Open(py.ReadLine());
        Assert.That(ev.IsSet, Is.False);
        Assert.That(ev.Wait(TimeSpan.FromMilliseconds(100)), Is.False);
        ev.Set();
        Assert.That(py.ReadLine(), Is.EqualTo("True"));
        Assert.That(py.ReadLine(), Is.EqualTo("cleared"));
        Assert.That(ev.IsSet, Is.False);
        var waiter = Task.Run(() => ev.Wait(TimeSpan.FromSeconds(20)));
        Thread.Sleep(100);
        py.WriteLine("set");
        Assert.That(py.ReadLine(), Is.EqualTo("set"));
        Assert.That(waiter.Wait(TimeSpan.FromSeconds(20)) && waiter.Result, Is.True);
        py.WriteLine("exit");
        Assert.That(py.WaitForExit().ExitCode, Is.EqualTo(0));
    }

    [Test]
    public void Garbage_descriptors_are_rejected()
    {
        Assert.That(() => SharedEvent.Open("nope"), Throws.TypeOf<FormatException>());
        Assert.That(() => SharedEvent.Open("dotbridge.event:v1;lock=/db_x"), Throws.TypeOf<FormatException>().Or.TypeOf<FileNotFoundException>());
    }
}

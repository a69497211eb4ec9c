namespace Bridge.Tests;

/// <summary>C# callers hand Python workers arrays in shared memory (ext 3): no copy, writes come back.</summary>
public class SharedMemoryPoolTests : ProcessPoolTestBase
{
    [Test]
    public async Task Python_worker_scales_a_csharp_segment_in_place()
    {
        using var seg = SharedMemorySegment.Create(8 * 1000);
        try
        {
            seg.AsSpan<double>().Fill(1.5);
            await using var pool = CreatePool(1);
            double sum = await Bounded(pool.ApplyAsync<double>(Target.Python("_tasks_shared:scale_in_place"), seg.ArrayRef<double>(800, 100), 2.0));
            Assert.That(sum, Is.EqualTo(150.0));
            var all = seg.AsSpan<double>();
            Assert.That((all[99], all[100], all[199], all[200]), Is.EqualTo((1.5, 3.0, 3.0, 1.5)));
        }
        finally
        {
            seg.Unlink();
        }
    }
}

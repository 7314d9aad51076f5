"""Reading and writing: images, meshes, point clouds, run directories, reports."""

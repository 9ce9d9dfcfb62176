// The chosen file's name beside the 选择文件 button (templates/_file_pick.html).
(function () {
  const input = document.getElementById('file');
  const name = document.getElementById('file-name');
  if (!input || !name) return;
  input.addEventListener('change', function () {
    name.textContent = input.files && input.files.length
      ? '已选择：' + input.files[0].name : '还没有选择文件';
  });
})();

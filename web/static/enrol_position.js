// 老人登记: "使用当前位置" takes this device's position during the home visit (the officer
// stands at the elder's home). Without it the home is placed at the community's centre and
// marked approximate (home visits then skip the distance check).
(function () {
  var button = document.getElementById("use-position");
  var lat = document.getElementById("lat");
  var lon = document.getElementById("lon");
  var source = document.getElementById("location_source");
  var status = document.getElementById("position-status");
  if (!button || !lat || !lon || !source || !status) return;
  button.hidden = false;
  if (!navigator.geolocation) {
    button.disabled = true;
    status.textContent = "本机不能定位：住址将按所在社区的中心位置登记（近似位置）。";
    return;
  }
  button.addEventListener("click", function () {
    status.textContent = "正在获取当前位置……";
    navigator.geolocation.getCurrentPosition(function (p) {
      lat.value = p.coords.latitude.toFixed(6);
      lon.value = p.coords.longitude.toFixed(6);
      source.value = "device";
      status.textContent = "已取得当前位置（误差约 " + Math.round(p.coords.accuracy) + " 米），将作为老人住址的位置登记。";
    }, function () {
      status.textContent = "没有取得位置（请允许定位后再试）：否则住址将按所在社区的中心位置登记（近似位置）。";
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 0 });
  });
})();
